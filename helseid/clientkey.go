package helseid

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sync/atomic"

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

// Authenticate adds an assertion signed by the current key to form.
func (k *clientKeys) Authenticate(form url.Values, details json.RawMessage) error {
	return k.p.Load().current.Authenticate(form, details)
}

// RequestObject signs a request object with the current key.
func (k *clientKeys) RequestObject(details json.RawMessage) (string, error) {
	return k.p.Load().current.RequestObject(details)
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
// registered, not yet promoted): a client-credentials request that HelseID refuses as
// invalid_client is tried once more with it, since HelseID may drop the old key the moment
// it registers the new one. A request refused with a key that SetKeys has since replaced is
// likewise tried once more with the new key. keystore.Watcher calls SetKeys when the store
// changes.
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
