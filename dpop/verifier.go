package dpop

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/helseid-go/sdk/internal/jose"
)

var (
	// ErrInvalidProof reports a DPoP proof that must be refused (RFC 9449 invalid_dpop_proof):
	// missing, malformed, badly signed, for another request or token, too old, replayed.
	ErrInvalidProof = errors.New("invalid dpop proof")
	// ErrReplayed reports a proof whose jti was already accepted; it wraps ErrInvalidProof.
	ErrReplayed = fmt.Errorf("%w: replayed (its jti has already been used)", ErrInvalidProof)
	// ErrUseNonce reports a proof without the server's current nonce (RFC 9449 use_dpop_nonce):
	// the client should retry with the nonce sent in DPoP-Nonce.
	ErrUseNonce = errors.New("dpop proof lacks the current server nonce")
	// ErrKeyNotBound reports a valid proof by a key other than the one the access token is
	// bound to (its cnf.jkt): RFC 9449 §7.1 answers it with invalid_token.
	ErrKeyNotBound = errors.New("dpop proof key is not the one the token is bound to")
	// ErrReplayCheck reports that the replay store failed: the proof may be fine, but it is
	// refused because its freshness could not be established (answer 503).
	ErrReplayCheck = errors.New("dpop replay check failed")
)

// errInvalidVerifierConfig starts the message of a refused VerifierConfig (a configuration
// is fixed by its author, not handled at run time, so it is not exported).
var errInvalidVerifierConfig = errors.New("invalid dpop verifier configuration")

// Defaults and bounds of VerifierConfig.
const (
	DefaultMaxAge = 60 * time.Second
	DefaultLeeway = 5 * time.Second
	maxMaxAge     = 10 * time.Minute
	maxLeeway     = 5 * time.Minute
	// maxProofSize bounds what is parsed: a proof with an RSA-4096 jwk is about 2.5 KiB.
	maxProofSize    = 4 << 10
	maxProofRSABits = 4096
	maxJTILen       = 256
)

// DefaultVerifierAlgorithms are accepted when VerifierConfig.Algorithms is nil: every
// asymmetric algorithm HelseID's clients may sign proofs with (its
// dpop_signing_alg_values_supported) and EdDSA.
func DefaultVerifierAlgorithms() []string {
	return []string{"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA"}
}

// FAPI2Algorithms are the proof algorithms the FAPI 2.0 Security Profile allows (§5.4.1).
func FAPI2Algorithms() []string { return []string{"PS256", "ES256", "EdDSA"} }

// VerifierConfig configures a Verifier. The zero value is valid: the default algorithms, proofs
// at most a minute old with 5 s of clock skew, an in-memory replay store, no nonces, and the
// request's own URL.
type VerifierConfig struct {
	// Algorithms accepted for the proof signature; nil means DefaultVerifierAlgorithms. none
	// and HS* are never accepted.
	Algorithms []string
	// MaxAge is how long after its iat a proof is accepted; zero means DefaultMaxAge, at most
	// 10 minutes. With Nonces the nonce bounds freshness too.
	MaxAge time.Duration
	// Leeway is the clock skew allowed: iat that far in the future, and MaxAge that much
	// longer. Zero means DefaultLeeway, negative means none, at most 5 minutes.
	Leeway time.Duration
	// Replay remembers accepted proofs; nil means a MemoryReplayStore. Share one store among
	// every machine of an API (see ReplayStore).
	Replay ReplayStore
	// Nonces, when set, makes a current server nonce mandatory (RFC 9449 §9): a proof without
	// one is refused with ErrUseNonce, and the server answers with Nonces.Nonce().
	Nonces *NonceSource
	// ExternalURL is the API's base URL as clients call it, such as
	// "https://api.example.no/journal". Set it in production. The htu a proof must carry is
	// then the scheme and host of ExternalURL, its path (without a trailing slash), and the
	// request's path as the handler sees it: right when a proxy strips that prefix before the
	// request reaches the API (or when ExternalURL has no path); under http.StripPrefix, or
	// behind a proxy that keeps the prefix, give ExternalURL without the path.
	//
	// Empty means the request's own URL: https when it came over TLS, its Host header, and
	// its path. The Host header is chosen by the client, so a proof captured at one
	// deployment of the API (another region, staging) could then be replayed at another with
	// a matching Host; with ExternalURL it cannot.
	ExternalURL string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verifier checks DPoP proofs on the server side (RFC 9449 §4.3, §7.1). It is safe for
// concurrent use; make one per API and keep it.
type Verifier struct {
	algs     []string
	maxAge   time.Duration
	leeway   time.Duration
	replay   ReplayStore
	nonces   *NonceSource
	external *url.URL // scheme and host; Path holds the prefix without a trailing slash
	now      func() time.Time
	headers  headerCache
}

// NewVerifier checks cfg and returns a Verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	v := &Verifier{algs: cfg.Algorithms, maxAge: cfg.MaxAge, leeway: cfg.Leeway, replay: cfg.Replay, nonces: cfg.Nonces, now: cfg.Now}
	if v.algs == nil {
		v.algs = DefaultVerifierAlgorithms()
	}
	if len(v.algs) == 0 {
		return nil, fmt.Errorf("%w: no algorithms", errInvalidVerifierConfig)
	}
	v.algs = slices.Clone(v.algs)
	for _, alg := range v.algs {
		if err := jose.CheckAlgorithm(alg); err != nil {
			return nil, fmt.Errorf("%w: %w", errInvalidVerifierConfig, err)
		}
	}
	switch {
	case v.maxAge == 0:
		v.maxAge = DefaultMaxAge
	case v.maxAge < 0 || v.maxAge > maxMaxAge:
		return nil, fmt.Errorf("%w: MaxAge %s is not between 0 and %s", errInvalidVerifierConfig, v.maxAge, maxMaxAge)
	}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultLeeway
	case v.leeway < 0:
		v.leeway = 0
	case v.leeway > maxLeeway:
		return nil, fmt.Errorf("%w: Leeway %s is over %s", errInvalidVerifierConfig, v.leeway, maxLeeway)
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.replay == nil {
		v.replay = NewMemoryReplayStore(MemoryReplayStoreConfig{Now: v.now})
	}
	if cfg.ExternalURL != "" {
		u, err := url.Parse(cfg.ExternalURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("%w: ExternalURL must be an absolute http(s) URL without query or fragment", errInvalidVerifierConfig)
		}
		v.external = &url.URL{Scheme: u.Scheme, Host: u.Host, Path: strings.TrimSuffix(u.EscapedPath(), "/")}
	}
	return v, nil
}

// Algorithms returns the accepted proof algorithms, for the algs parameter of a
// WWW-Authenticate challenge.
func (v *Verifier) Algorithms() []string { return slices.Clone(v.algs) }

// Nonces returns the configured NonceSource, or nil.
func (v *Verifier) Nonces() *NonceSource { return v.nonces }

// Proof is a verified DPoP proof.
type Proof struct {
	// JKT is the RFC 7638 thumbprint of the proof key: a DPoP-bound token's cnf.jkt must
	// equal it.
	JKT       string
	Algorithm string
	PublicKey crypto.PublicKey
	JTI       string
	IssuedAt  time.Time
	Nonce     string
}

// Verify checks the DPoP proof of an incoming request: exactly one DPoP header, then the
// checks of VerifyProof with the request's method and URL (see VerifierConfig.ExternalURL).
// accessToken is the token the request presents and jkt the thumbprint it is bound to (its
// cnf.jkt); both are "" where no token is presented (a token endpoint).
func (v *Verifier) Verify(ctx context.Context, r *http.Request, accessToken, jkt string) (*Proof, error) {
	vals := r.Header["Dpop"] // Values("DPoP") would canonicalise the name into a new string per request
	switch len(vals) {
	case 0:
		return nil, fmt.Errorf("%w: the DPoP header is missing", ErrInvalidProof)
	case 1:
	default:
		return nil, fmt.Errorf("%w: the request has %d DPoP headers", ErrInvalidProof, len(vals))
	}
	return v.VerifyProof(ctx, vals[0], ProofRequest{Method: r.Method, URL: v.requestURL(r), AccessToken: accessToken, JKT: jkt})
}

// ProofRequest is what a proof must match. Formatting, logging and marshalling it never show
// the access token.
type ProofRequest struct {
	// Method and URL are the request's; the proof's htm and htu must name them.
	Method string
	URL    *url.URL
	// AccessToken is the token the request presents; the proof's ath must be its hash. ""
	// where none is presented, and then the proof must have no ath.
	AccessToken string
	// JKT is the thumbprint the access token is bound to (cnf.jkt); the proof must be signed
	// by that key. "" checks no binding (the caller must then compare Proof.JKT itself).
	JKT string
}

// requestURL is the URL a proof for r must name, before HTU normalises it.
func (v *Verifier) requestURL(r *http.Request) *url.URL {
	if v.external != nil {
		return &url.URL{Scheme: v.external.Scheme, Host: v.external.Host, Opaque: "//" + v.external.Host + v.external.Path + r.URL.EscapedPath()}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath}
}

// proofHeaderNames are the header members proofHeader reads: each must be spelt exactly so,
// and none may appear twice.
var proofHeaderNames = []string{"typ", "alg", "jwk", "crit"}

// proofHeader holds the header members a proof is checked on. Unknown members are ignored, as
// RFC 7515 §4 and RFC 9449 §4.2 allow.
type proofHeader struct {
	Typ  string          `json:"typ"`
	Alg  string          `json:"alg"`
	JWK  json.RawMessage `json:"jwk"`
	Crit json.RawMessage `json:"crit"`
}

// VerifyProof checks a compact DPoP proof for req in this order: JWS structure; typ dpop+jwt;
// alg in the allow-list; jwk present, public only (a private member refuses the proof), fitting
// alg (RSA at most 4096 bits with exponent 65537, so a proof costs little to check); the key
// the token is bound to (req.JKT); signature with that jwk; jti; htm equal to method; htu equal to u without its query and fragment (scheme and
// host compared case-insensitively, default ports ignored; an htu with a query or fragment is
// refused); iat within MaxAge and Leeway; ath
// equal to the token's hash, or absent with no token; the current nonce when Nonces is set; and
// last the replay check, so only proofs valid in every other respect are recorded. Errors wrap
// ErrInvalidProof, ErrKeyNotBound, ErrUseNonce or ErrReplayCheck and never contain the proof
// or the token.
func (v *Verifier) VerifyProof(ctx context.Context, proof string, req ProofRequest) (*Proof, error) {
	if len(proof) > maxProofSize {
		return nil, invalid("it is larger than %d bytes", maxProofSize)
	}
	// The SDK's one JWS path (the same as for access and ID tokens): the shape and the
	// canonical encoding here, the signature by jose.Verify below. The header is parsed by
	// v.header, which keeps checked headers by their encoding.
	encHeader, encPayload, encSig, err := jose.SplitCompact(proof)
	if err != nil {
		return nil, invalid("it is not a compact JWS: %w", err)
	}
	if encSig == "" {
		return nil, invalid("it is not a compact JWS: its signature is empty")
	}
	h, err := v.header(encHeader)
	if err != nil {
		return nil, err
	}
	if req.JKT != "" && subtle.ConstantTimeCompare([]byte(h.jkt), []byte(req.JKT)) != 1 {
		// Before the replay check: a proof by a foreign key must not take space in the store.
		return nil, ErrKeyNotBound
	}
	payload, err := jose.DecodeSegment(encPayload)
	if err != nil {
		return nil, invalid("its payload is not base64url")
	}
	sig, err := jose.DecodeSegment(encSig)
	if err != nil {
		return nil, invalid("its signature is not base64url")
	}
	if err := jose.VerifyString(h.alg, h.pub, proof[:len(encHeader)+1+len(encPayload)], sig); err != nil {
		return nil, invalid("the signature does not verify with its jwk")
	}

	c, err := parseProofClaims(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidProof, err)
	}
	if c.jti == "" || len(c.jti) > maxJTILen {
		return nil, invalid("jti is missing or longer than %d bytes", maxJTILen)
	}
	if c.htm != req.Method {
		return nil, invalid("htm is not the request method")
	}
	if !v.htuMatches(c.htu, req.URL) {
		return nil, invalid("htu is not the request url")
	}
	if !c.hasIAT {
		return nil, invalid("iat is missing")
	}
	if c.iat < 0 || c.iat > 1e11 { // JSON has no NaN or infinity; this bounds the conversion
		return nil, invalid("iat is not a numeric date")
	}
	sec, frac := math.Modf(c.iat)
	iat := time.Unix(int64(sec), int64(frac*1e9))
	now := v.now()
	switch {
	case iat.After(now.Add(v.leeway)):
		return nil, invalid("iat is in the future")
	case now.Sub(iat) > v.maxAge+v.leeway:
		return nil, invalid("iat is older than %s", v.maxAge)
	}
	if req.AccessToken == "" {
		if c.hasATH {
			return nil, invalid("ath is present, but no access token is")
		}
	} else {
		sum := sha256.Sum256(jose.ReadOnlyBytes(req.AccessToken)) // not copied: a token is a kilobyte or two
		var want [43]byte
		base64.RawURLEncoding.Encode(want[:], sum[:])
		if !c.hasATH || subtle.ConstantTimeCompare([]byte(c.ath), want[:]) != 1 {
			return nil, invalid("ath is not the hash of the access token")
		}
	}
	p := &Proof{JKT: h.jkt, Algorithm: h.alg, PublicKey: h.pub, JTI: c.jti, IssuedAt: iat, Nonce: c.nonce}
	if v.nonces != nil && !v.nonces.Valid(p.Nonce) {
		if p.Nonce == "" {
			return nil, fmt.Errorf("%w: the proof has no nonce", ErrUseNonce)
		}
		return nil, fmt.Errorf("%w: the proof's nonce is not current", ErrUseNonce)
	}
	// The record outlives this machine's acceptance window (iat + MaxAge + Leeway) by Leeway
	// more: another machine of a fleet sharing the store, whose clock is up to Leeway behind,
	// still accepts the proof that much later by true time, and must find it recorded.
	fresh, err := v.replay.CheckAndSet(ctx, replayID(p.JKT, c.jti), iat.Add(v.maxAge+2*v.leeway+time.Second))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrReplayCheck, err)
	case !fresh:
		return nil, ErrReplayed
	}
	return p, nil
}

// parsedHeader is a proof header that passed every check that depends on the header alone.
type parsedHeader struct {
	alg string
	pub crypto.PublicKey
	jkt string
}

// header parses and checks a proof's encoded header: typ, alg, crit, and a public jwk that fits
// alg. A client sends the same header with every proof (its key does not change), so checked
// headers are kept by their exact encoding and the work is done once per key.
func (v *Verifier) header(encoded string) (*parsedHeader, error) {
	if h := v.headers.get(encoded); h != nil {
		return h, nil
	}
	raw, err := jose.DecodeSegment(encoded)
	if err != nil {
		return nil, invalid("its header is not base64url")
	}
	if _, err := jose.DecodeObject(raw, proofHeaderNames); errors.Is(err, jose.ErrDuplicateMember) {
		return nil, invalid("its header: %w", err)
	}
	var h proofHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, invalid("its header is not a JSON object of the expected types")
	}
	if h.Typ != "dpop+jwt" {
		return nil, invalid(`typ is not "dpop+jwt"`)
	}
	if !slices.Contains(v.algs, h.Alg) {
		return nil, invalid("alg %.16q is not accepted", h.Alg)
	}
	if h.Crit != nil {
		return nil, invalid("crit is not supported")
	}
	if len(h.JWK) == 0 || string(h.JWK) == "null" {
		return nil, invalid("the jwk header is missing")
	}
	pub, err := proofKey(h.JWK, h.Alg)
	if err != nil {
		return nil, err
	}
	jkt, err := jose.Thumbprint(pub)
	if err != nil {
		return nil, invalid("the jwk header: %w", err)
	}
	ph := &parsedHeader{alg: h.Alg, pub: pub, jkt: jkt}
	if len(encoded) <= maxCachedHeaderLen {
		v.headers.put(encoded, ph)
	}
	return ph, nil
}

// proofKey reads the public key of a proof's jwk header: an object with exactly-named members,
// no private member, fitting alg. RSA keys are held to at most maxProofRSABits bits with the
// exponent 65537: a proof key is the client's own, so nothing needs more, and a larger
// modulus or exponent would let anyone make the server spend milliseconds per proof.
func proofKey(raw json.RawMessage, alg string) (crypto.PublicKey, error) {
	m, err := jose.DecodeObject(raw, nil)
	switch {
	case errors.Is(err, jose.ErrDuplicateMember):
		return nil, invalid("the jwk header: %w", err)
	case err != nil:
		return nil, invalid("the jwk header is not a JSON object")
	}
	for _, name := range jose.PrivateJWKMembers {
		if _, ok := m[name]; ok {
			return nil, invalid("the jwk header carries private key material")
		}
	}
	var members jose.PublicJWKMembers
	for name, dst := range map[string]*string{"kty": &members.Kty, "crv": &members.Crv, "x": &members.X, "y": &members.Y, "n": &members.N, "e": &members.E} {
		if v, ok := m[name]; ok && json.Unmarshal(v, dst) != nil {
			return nil, invalid("the jwk header's %s is not a string", name)
		}
	}
	pub, err := jose.ParsePublicKey(members)
	if err != nil {
		return nil, invalid("the jwk header: %w", err)
	}
	if err := jose.CheckKey(pub, alg); err != nil {
		return nil, invalid("the jwk does not fit alg %s", alg)
	}
	if k, ok := pub.(*rsa.PublicKey); ok && (k.N.BitLen() > maxProofRSABits || k.E != 65537) {
		return nil, invalid("the jwk header's RSA key must have at most %d bits and exponent 65537", maxProofRSABits)
	}
	return pub, nil
}

// The header cache holds one entry per client key seen recently, each at most 2 KiB of key
// (an RSA-4096 header is about 1 KiB), so it never holds more than 8 MiB.
const (
	maxCachedHeaders   = 4096
	maxCachedHeaderLen = 2 << 10
)

// headerCache maps encoded proof headers to their checked form. It is bounded: when full it
// starts afresh, which costs each client one header parse.
type headerCache struct {
	mu sync.RWMutex
	m  map[string]*parsedHeader
}

func (c *headerCache) get(encoded string) *parsedHeader {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[encoded]
}

func (c *headerCache) put(encoded string, h *parsedHeader) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedHeaders {
		c.m = make(map[string]*parsedHeader)
	}
	c.m[encoded] = h
}

// htuMatches compares a proof's htu with the request URL after HTU normalises both. An htu
// that is already the request URL's normal form, as a client's Proofer writes it, is found
// equal without parsing it.
func (v *Verifier) htuMatches(htu string, u *url.URL) bool {
	if htu == "" || u == nil {
		return false
	}
	want := HTU(u)
	// Only for a plain host (no "@", "?", "#" or "%"), so that the htu parses back to the same
	// scheme, host and no user, as the full comparison below requires.
	if htu == want && u.Host != "" && plainHost(u.Hostname()) && (strings.HasPrefix(want, "https://") || strings.HasPrefix(want, "http://")) {
		return true
	}
	// RFC 9449 §4.2: htu carries no query and no fragment. A proof with either is refused,
	// as the OpenID conformance suite does, rather than compared without them.
	if strings.ContainsAny(htu, "?#") {
		return false
	}
	claimed, err := url.Parse(htu)
	if err != nil || claimed.Host == "" || (claimed.Scheme != "https" && claimed.Scheme != "http") || claimed.User != nil {
		return false
	}
	return HTU(claimed) == want
}

// replayID scopes a jti to the key that signed it and hashes the two, so a store sees a fixed
// 43-character URL-safe id and no client-chosen text.
func replayID(jkt, jti string) string {
	h := sha256.New()
	h.Write([]byte(jkt))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0]))
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrInvalidProof, fmt.Errorf(format, args...))
}
