// Package apifleet holds the API fleet test: three API processes, each a helseid.Guard with
// the Redis replay store, behind one real redis-server. The test binary re-executes itself as
// each API (TestMain picks the role from the environment), so the machines of the fleet share
// nothing but Redis and loopback.
package apifleet
