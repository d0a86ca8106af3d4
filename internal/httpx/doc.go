// Package httpx holds the small HTTP helpers every network-facing part of the SDK shares:
// reading untrusted response bodies through a size limit and recognising loopback hosts,
// the only place plain HTTP is allowed.
package httpx
