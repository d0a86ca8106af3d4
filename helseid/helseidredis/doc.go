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
// (once: one GETDEL), and a user session is served by any machine, with one refresh at a time
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
// lets one rotate at a time. The private keys are sealed with the application's key.
//
// It is a separate Go module, so that the core SDK keeps its three dependencies; the core
// defines the small interfaces implemented here and keeps in-memory defaults.
package helseidredis
