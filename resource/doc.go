// Package resource implements RFC 8707 resource indicators for a logged-in user: one access
// token per API (audience), each obtained from the same rotating refresh token with exactly one
// resource parameter, so that every API receives a token with a single audience.
//
// Resource values are API names such as "nhn:kjernejournal" as often as URLs, so the package
// does not enforce RFC 8707's absolute-URI syntax. It knows nothing of HelseID. Its refresh
// logic arrives with the user-login work (issue 4); until then the package holds only this
// description.
package resource
