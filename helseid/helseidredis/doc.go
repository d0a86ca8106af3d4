// Package helseidredis shares what the SDK remembers across the machines of a fleet through
// Redis: DPoP proof identifiers for APIs (a proof accepted by one machine is refused by the
// others) and client-credentials tokens for machine-to-machine integrations (one token request
// per organisation for the whole fleet, sealed with the application's key at rest).
//
// # DPoP replay across an API's machines
//
// NewReplayStore returns a dpop.ReplayStore for dpop.VerifierConfig.Replay (helseid.GuardConfig's
// DPoP): one SET NX PX per proof, under a key made of the API's namespace and a hash of the
// proof's identifier, kept as long as the proof could be accepted. It fails closed: while Redis
// does not answer within the store's timeout, no proof is accepted and the Guard answers 503;
// it recovers by itself when Redis returns.
//
// # Logins and user sessions across an EHR backend's machines
//
// NewLoginStore and NewSessionStore return the helseid.LoginStore and helseid.SessionStore of
// helseid.Config.Logins and Config.Sessions: a login started on one machine finishes on any
// (once: one read-and-delete), and a user session is served by any machine, with one refresh at a time
// for the whole fleet (a lease in Redis, renewed by its holder before every attempt it sends,
// and a compare-and-set on the session's generation). Both are sealed with the application's
// key. The one window that loses a session is after HelseID rotated the refresh token and
// before the new one is stored: a holder that dies there, or a Redis that cannot be written
// for longer than the lease.
//
// # A client key shared by a fleet
//
// NewKeyStore returns a keystore.Store and keystore.Locker for a fleet without a shared disk:
// every machine runs a keystore.Watcher on it, any may run a keystore.AutoRotator, and the lock
// lets one rotate at a time (a lease that AutoRotator's rotation ends within: see LockHold).
// The private keys are sealed with the application's key.
//
// # Sealing keys and their rotation
//
// Every store but the replay store seals its records with AES-256-GCM under the application's
// Key, and each record names that key by a short identifier (SealKeyID). OldKeys, in each
// store's configuration, open records but never seal them, so the key can be rotated without
// losing what is stored: records sealed under an old key open and are sealed under Key when
// next written. A record sealed under a key in neither (a process configured with another key)
// is ErrUnknownSealKey, not an absence: LoadSession, TakeLogin and KeyStore.Load return it, so a
// misconfigured replica does not log users out or replace the fleet's client key, and the token
// cache's Client requests its token itself and reports it. A record that was changed or moved to
// another key still counts as absent (a KeyStore's is an error). Rotate in two rollouts, so that
// no process meets a record it cannot open: first the new key in OldKeys on every process, then
// the new key as Key with the old one in OldKeys; drop the old key once its records have expired
// (a KeyStore's: once a Save has sealed them again).
//
// It is a separate Go module, so that the core SDK keeps its three dependencies; the core
// defines the small interfaces implemented here and keeps in-memory defaults.
package helseidredis
