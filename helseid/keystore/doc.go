// Package keystore keeps a HelseID client's private key so that renewing it loses nothing:
// a Store holds the current key, when it expires, and the key of a rotation under way, and
// Rotator runs the rotation protocol against it.
//
// # The rotation protocol
//
// HelseID client keys expire, and a key registered through the self-service API (package
// selfservice) may replace the old one at once. A process that dies between registering a key
// and storing it would then leave a client whose only valid key is lost. So a rotation goes:
//
//  1. generate a new key;
//  2. store it as pending, next to the current key;
//  3. register it with HelseID;
//  4. promote it: store it as the current key, with the expiration HelseID answered.
//
// Each store write is atomic, so a crash at any point leaves the store as one of these steps
// left it. On start, Rotator.Resolve settles a pending key by trying it at the token
// endpoint: if HelseID accepts it, it was registered and is promoted; if HelseID refuses it
// and accepts the current key, the registration never happened and the pending key is
// dropped; any other answer keeps both and reports it, so no key HelseID may hold is ever
// thrown away. A key promoted by Resolve has an unknown expiration (zero), because the answer
// that stated it was lost: rotate again soon.
//
// When the Store is a Locker, Resolve and Rotate work under its lock, so a process starting
// while another rotates leaves the pending key to it. Every record carries a generation
// (Keys.Generation): a Save derived from an older record fails with ErrStale, and a Watcher
// never goes back to an older record (ErrRollback).
//
// # Running for years
//
// A running helseid.Client takes a new key with SetKeys, without a restart or a failed
// request. A Watcher reads the store every Interval and gives the client its keys, so every
// process sharing the store (a fleet on one file) signs with the promoted key within one
// Interval, and knows a pending key as soon as it reads it, which the client tries when HelseID
// refuses the old one. An AutoRotator renews the key before it expires: each process at its
// own random moment shortly before RenewBefore, one at a time under the store's lock (a
// FileStore locks a file next to the key file with flock, which a crash releases; under a
// lock that lapses on its own, an ExpiringLocker, a rotation ends within its LockHold), waiting
// FleetDelay between storing the pending key and registering it so the Watchers have read it,
// retrying failures with a doubling backoff and warning through OnEvent when the key is close
// to expiry and rotation keeps failing.
package keystore
