package helseid

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sync/atomic"

	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/internal/clientauth"
)

// clientKeys signs client assertions with the client's key, which SetKeys may replace while
// requests are under way: each assertion is signed with the key current when it is built, so
// an attempt in flight finishes with the key it started with and the next one takes the new.
type clientKeys struct {
	template clientauth.Config // without the key
	p        atomic.Pointer[keyBuilders]
}

// keyBuilders is one generation of keys: the current one and, during a rotation, the key
// being registered, which HelseID may accept before the rotation tells this process so.
type keyBuilders struct {
	current, pending *clientauth.Builder
	kid, pendingKID  string
}

func newClientKeys(template clientauth.Config, key *Key) (*clientKeys, error) {
	k := &clientKeys{template: template}
	if err := k.set(key, nil); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *clientKeys) builder(key *Key) (*clientauth.Builder, error) {
	cfg := k.template
	cfg.Key, cfg.Algorithm, cfg.KeyID = key.Signer(), key.Algorithm(), key.KeyID()
	return clientauth.New(cfg)
}

func (k *clientKeys) set(current, pending *Key) error {
	next := keyBuilders{kid: current.KeyID()}
	var err error
	if next.current, err = k.builder(current); err != nil {
		return err
	}
	if pending != nil {
		next.pendingKID = pending.KeyID()
		if next.pending, err = k.builder(pending); err != nil {
			return fmt.Errorf("pending key: %w", err)
		}
	}
	k.p.Store(&next)
	return nil
}

// keyAuth authenticates requests to HelseID with the client's keys, as a
// fapi.RotatingAuthenticator: each request starts with the key current when it is sent and,
// when HelseID refuses the client (invalid_client), goes again once with each other key (see
// others). Every request that carries a client assertion authenticates through one, so each
// survives a rotation: token requests, PAR, the code exchange, refreshes, token exchanges and
// revocations alike.
type keyAuth struct {
	keys *clientKeys
	// details gives each assertion's assertion_details; nil sends none.
	details func() (json.RawMessage, error)
	// requestObject, when set, has each attempt carry a request object ("request") with
	// requestDetails as its authorization_details, signed by the attempt's key: HelseID
	// checks it against the client's keys as it does the assertion, so the two must agree.
	requestObject  bool
	requestDetails json.RawMessage
}

// auth returns client authentication by the client's keys, with details (nil for none) in
// every assertion.
func (k *clientKeys) auth(details json.RawMessage) *keyAuth {
	a := &keyAuth{keys: k}
	if details != nil {
		a.details = func() (json.RawMessage, error) { return details, nil }
	}
	return a
}

// Authenticate signs with the current key.
func (a *keyAuth) Authenticate(form url.Values) error {
	return keyAttempt{a, a.keys.p.Load().current}.Authenticate(form)
}

// Keys starts with the current key and gives the others (see clientKeys.others) once the
// first is refused.
func (a *keyAuth) Keys() (fapi.ClientAuthenticator, func() fapi.ClientAuthenticator) {
	used := a.keys.p.Load()
	var others []*clientauth.Builder
	asked := false
	return keyAttempt{a, used.current}, func() fapi.ClientAuthenticator {
		if !asked { // the keys as they are when HelseID refused the first
			others, asked = a.keys.others(used.kid), true
		}
		if len(others) == 0 {
			return nil
		}
		next := others[0]
		others = others[1:]
		return keyAttempt{a, next}
	}
}

// keyAttempt is a keyAuth's authentication by one key.
type keyAttempt struct {
	a   *keyAuth
	key *clientauth.Builder
}

func (k keyAttempt) Authenticate(form url.Values) error {
	if k.a.requestObject {
		ro, err := k.key.RequestObject(k.a.requestDetails)
		if err != nil {
			return fmt.Errorf("request object: %w", err)
		}
		form.Set("request", ro)
	}
	var details json.RawMessage
	if k.a.details != nil {
		var err error
		if details, err = k.a.details(); err != nil {
			return err
		}
	}
	return k.key.Authenticate(form, details)
}

// others returns the keys to try, in order, after HelseID refused an assertion signed by the
// key usedKID: the pending key (the newest, which HelseID may hold alone once registered),
// then the current key if it changed meanwhile. Key IDs, not builders, are compared: SetKeys
// builds anew for an unchanged current key.
func (k *clientKeys) others(usedKID string) []*clientauth.Builder {
	now := k.p.Load()
	var out []*clientauth.Builder
	if now.pending != nil && now.pendingKID != usedKID {
		out = append(out, now.pending)
	}
	if now.kid != usedKID && now.kid != now.pendingKID {
		out = append(out, now.current)
	}
	return out
}

// SetKeys replaces the key that signs client assertions, without a restart: assertions built
// from now on are signed by current, while requests under way finish with the key they
// started with. pending, when not nil, is the key of a rotation under way (stored, perhaps
// registered, not yet promoted): any request to HelseID that carries a client assertion (a
// token request, PAR with its request object, the code exchange, a refresh, a token
// exchange, a revocation) and is refused as invalid_client is sent once more with it, since
// HelseID may drop the old key the moment it registers the new one. A request refused with a
// key that SetKeys has since replaced is likewise sent once more with the new key. Only
// invalid_client is answered this way: HelseID authenticates the client before it looks at
// the grant, so a refused code exchange or refresh has not used its code or refresh token up.
// keystore.Watcher calls SetKeys when the store changes.
func (c *Client) SetKeys(current, pending *Key) error {
	if current == nil {
		return fmt.Errorf("%w: SetKeys needs a current key", errInvalidConfig)
	}
	if err := c.assertions.set(current, pending); err != nil {
		return fmt.Errorf("%w: %w", errInvalidConfig, err)
	}
	return nil
}

// KeyID returns the key ID of the key that signs client assertions now.
func (c *Client) KeyID() string { return c.assertions.p.Load().kid }
