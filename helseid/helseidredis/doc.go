// Package helseidredis shares what the SDK remembers across the machines of a fleet through
// Redis: DPoP proof identifiers for APIs (a proof accepted by one machine is refused by the
// others) and client-credentials tokens for machine-to-machine integrations (one token request
// per organisation for the whole fleet, sealed with the application's key at rest).
//
// It is a separate Go module, so that the core SDK keeps its three dependencies; the core
// defines the small interfaces implemented here and keeps in-memory defaults.
package helseidredis
