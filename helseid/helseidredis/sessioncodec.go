package helseidredis

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/fapi"
)

// A session record is read on every request that lands on a replica without the session in
// memory, so its layout is a flat binary one decoded in one pass: one copy of the plaintext
// into a string that every string field is a slice of, and byte fields sliced from the
// plaintext itself, instead of JSON (which cost more than the Redis round trip, mostly in
// the ID token's claims). Records written as JSON by earlier versions still open.

// sessionCodecV2 is the first byte of a binary record; a JSON record starts with '{'.
const sessionCodecV2 = 2

var errSessionCodec = errors.New("helseidredis: malformed session record")

type sessionWriter struct{ b []byte }

func (w *sessionWriter) uint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }

func (w *sessionWriter) str(s string) {
	w.uint(uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *sessionWriter) bytes(b []byte) {
	w.uint(uint64(len(b)))
	w.b = append(w.b, b...)
}

// time keeps the instant (the zero time apart), not the location: records are read in UTC.
func (w *sessionWriter) time(t time.Time) {
	if t.IsZero() {
		w.b = append(w.b, 0)
		return
	}
	w.b = append(w.b, 1)
	w.b = binary.AppendVarint(w.b, t.Unix())
	w.uint(uint64(t.Nanosecond()))
}

// strs keeps nil apart from empty: 0 is nil, n+1 is n strings.
func (w *sessionWriter) strs(v []string) {
	if v == nil {
		w.uint(0)
		return
	}
	w.uint(uint64(len(v)) + 1)
	for _, s := range v {
		w.str(s)
	}
}

func (w *sessionWriter) claims(c *helseid.IDTokenClaims) {
	if c == nil {
		w.b = append(w.b, 0)
		return
	}
	w.b = append(w.b, 1)
	w.str(c.Issuer)
	w.str(c.Subject)
	w.strs(c.Audience)
	w.time(c.IssuedAt)
	w.time(c.Expiry)
	w.time(c.AuthTime)
	w.str(c.Nonce)
	w.str(c.SessionID)
	w.str(c.IdentityProvider)
	w.strs(c.AMR)
	w.str(c.PID)
	w.str(c.SecurityLevel)
	w.str(c.HPRNumber)
	w.str(c.Name)
	if c.Raw == nil {
		w.uint(0)
		return
	}
	w.uint(uint64(len(c.Raw)) + 1)
	for k, v := range c.Raw {
		w.str(k)
		w.bytes(v)
	}
}

// encodeSession writes rec in the binary layout.
func encodeSession(rec *helseid.StoredSession) []byte {
	w := sessionWriter{b: make([]byte, 0, 4096)}
	w.b = append(w.b, sessionCodecV2)
	w.uint(rec.Generation)
	w.str(rec.RefreshToken)
	w.time(rec.RefreshExpiry)
	w.bytes(rec.DPoPKey)
	w.str(rec.IDToken)
	w.claims(rec.Claims)
	supplier := rec.Organization == helseid.SupplierOrganization()
	if supplier {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
		w.str(rec.Organization.Parent)
		w.str(rec.Organization.Child)
	}
	w.str(rec.Resource)
	w.uint(uint64(len(rec.Tokens)))
	for r, t := range rec.Tokens {
		w.str(r)
		w.str(t.AccessToken)
		w.time(t.Expiry)
	}
	return w.b
}

// sessionReader reads a binary record: strings from s (one copy of the plaintext), byte
// fields from b (the plaintext, which the reader owns), at the same offset.
type sessionReader struct {
	b   []byte
	s   string
	off int
	err error
}

func (r *sessionReader) fail() {
	if r.err == nil {
		r.err = errSessionCodec
	}
	r.off = len(r.b)
}

func (r *sessionReader) uint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail()
		return 0
	}
	r.off += n
	return v
}

func (r *sessionReader) byte() byte {
	if r.err != nil || r.off >= len(r.b) {
		r.fail()
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

// span is the next length-prefixed field's bounds.
func (r *sessionReader) span() (int, int) {
	n := r.uint()
	if r.err != nil || n > uint64(len(r.b)-r.off) {
		r.fail()
		return 0, 0
	}
	start := r.off
	r.off += int(n)
	return start, r.off
}

func (r *sessionReader) str() string {
	a, b := r.span()
	return r.s[a:b]
}

// bytes is a field of the plaintext, capped so that an append by its user copies.
func (r *sessionReader) bytes() []byte {
	a, b := r.span()
	return r.b[a:b:b]
}

func (r *sessionReader) time() time.Time {
	if r.byte() == 0 {
		return time.Time{}
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.fail()
		return time.Time{}
	}
	r.off += n
	nsec := r.uint()
	if nsec >= uint64(time.Second) {
		r.fail()
		return time.Time{}
	}
	return time.Unix(v, int64(nsec)).UTC()
}

// count reads a count of items of at least one byte each, so that a forged count cannot make
// the reader allocate more than the record holds.
func (r *sessionReader) count(n uint64) int {
	if n > uint64(len(r.b)-r.off) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *sessionReader) strs() []string {
	n := r.uint()
	if n == 0 {
		return nil
	}
	v := make([]string, r.count(n-1))
	for i := range v {
		v[i] = r.str()
	}
	return v
}

func (r *sessionReader) claims() *helseid.IDTokenClaims {
	if r.byte() == 0 {
		return nil
	}
	c := &helseid.IDTokenClaims{Issuer: r.str(), Subject: r.str(), Audience: r.strs(), IssuedAt: r.time(), Expiry: r.time(),
		AuthTime: r.time(), Nonce: r.str(), SessionID: r.str(), IdentityProvider: r.str(), AMR: r.strs(), PID: r.str(),
		SecurityLevel: r.str(), HPRNumber: r.str(), Name: r.str()}
	if n := r.uint(); n > 0 {
		n = uint64(r.count(n - 1))
		c.Raw = make(map[string]json.RawMessage, n)
		for range n {
			k := r.str()
			c.Raw[k] = r.bytes()
		}
	}
	return c
}

// decodeSession reads a record of either layout.
func decodeSession(plain []byte) (*helseid.StoredSession, error) {
	if len(plain) == 0 || plain[0] != sessionCodecV2 {
		return decodeSessionJSON(plain)
	}
	r := &sessionReader{b: plain, s: string(plain), off: 1}
	rec := &helseid.StoredSession{Generation: r.uint(), RefreshToken: r.str(), RefreshExpiry: r.time(), DPoPKey: r.bytes(),
		IDToken: r.str(), Claims: r.claims()}
	if r.byte() == 1 {
		rec.Organization = helseid.SupplierOrganization()
	} else {
		rec.Organization = helseid.Organization{Parent: r.str(), Child: r.str()}
	}
	rec.Resource = r.str()
	n := r.count(r.uint())
	rec.Tokens = make(map[string]fapi.Token, n)
	for range n {
		res := r.str()
		rec.Tokens[res] = fapi.Token{AccessToken: r.str(), Expiry: r.time()}
	}
	if r.err != nil || r.off != len(plain) {
		return nil, errSessionCodec
	}
	return rec, nil
}

// storedJSON is the layout of records written before the binary one: the Organization's
// supplier mark, which its own fields do not show, is kept explicitly.
type storedJSON struct {
	Generation    uint64                  `json:"gen"`
	RefreshToken  string                  `json:"rt"`
	RefreshExpiry time.Time               `json:"rt_exp"`
	DPoPKey       json.RawMessage         `json:"dpop_jwk"`
	IDToken       string                  `json:"id_token,omitempty"`
	Claims        *helseid.IDTokenClaims  `json:"claims,omitempty"`
	OrgParent     string                  `json:"org_parent,omitempty"`
	OrgChild      string                  `json:"org_child,omitempty"`
	OrgSupplier   bool                    `json:"org_supplier,omitempty"`
	Resource      string                  `json:"resource,omitempty"`
	Tokens        map[string]storedAccess `json:"tokens,omitempty"`
}

type storedAccess struct {
	AccessToken string    `json:"at"`
	Expiry      time.Time `json:"exp"`
}

func decodeSessionJSON(b []byte) (*helseid.StoredSession, error) {
	var j storedJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, err
	}
	rec := &helseid.StoredSession{Generation: j.Generation, RefreshToken: j.RefreshToken, RefreshExpiry: j.RefreshExpiry,
		DPoPKey: j.DPoPKey, IDToken: j.IDToken, Claims: j.Claims, Resource: j.Resource,
		Organization: helseid.Organization{Parent: j.OrgParent, Child: j.OrgChild}, Tokens: map[string]fapi.Token{}}
	if j.OrgSupplier {
		rec.Organization = helseid.SupplierOrganization()
	}
	for r, t := range j.Tokens {
		rec.Tokens[r] = fapi.Token{AccessToken: t.AccessToken, Expiry: t.Expiry}
	}
	return rec, nil
}
