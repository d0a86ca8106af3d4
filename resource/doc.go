// Package resource implements RFC 8707 resource indicators for a logged-in user: one access
// token per API (audience), each obtained from the same rotating refresh token with exactly one
// resource parameter, so that every API receives a token with a single audience.
//
// A Session holds the refresh token and the access tokens it got, per resource. Refreshes are
// serialised (one in flight per session, as a rotating refresh token demands), the newest
// refresh token is handed to a persistence hook before the access token is returned (when the
// hook fails, the session retries the hook, not the refresh), a failed refresh keeps the old
// refresh token, and failures are remembered per resource.
//
// Resource values are API names such as "nhn:kjernejournal" as often as URLs, so the package
// does not enforce RFC 8707's absolute-URI syntax. It knows nothing of HelseID.
package resource
