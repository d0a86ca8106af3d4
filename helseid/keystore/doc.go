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
// A process that serves requests reads the key it signs with from Keys.Current, and notices
// a new key by its KeyID.
package keystore
