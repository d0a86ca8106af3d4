// Package selfservice talks to HelseID's self-service API (Selvbetjening) for what a running
// client needs without an operator: registering its next key.
//
// HelseID client keys expire, and an integration whose key expires stops. The client renews
// its own key: with a DPoP-bound client-credentials token for Scope it posts the new public
// JWK to {base}/v1/client-secret, and the answer says when that key expires. From then on the
// new key authenticates the client; store it before the old one is needed no more (package
// keystore runs that protocol so that a crash at any point loses no key).
package selfservice
