package helseidtest

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// DPoPProofTyp is the required typ header of DPoP proofs (RFC 9449 §4.2).
const DPoPProofTyp = "dpop+jwt"

// proofFailure classifies a rejected DPoP proof.
type proofFailure int

const (
	proofInvalid     proofFailure = iota // invalid_dpop_proof
	proofNeedsNonce                      // use_dpop_nonce: missing or wrong nonce
	proofUnavailable                     // replay cache full
)

type proofError struct {
	kind  proofFailure
	desc  string
	stale bool // proofNeedsNonce: a nonce was sent but is not the current one
}

func invalidProof(format string, args ...any) *proofError {
	return &proofError{kind: proofInvalid, desc: "DPoP proof: " + fmt.Sprintf(format, args...)}
}

// proofCheck is what a proof must match at one endpoint.
type proofCheck struct {
	method string
	htu    string
	// accessToken is the presented access token (the proof must carry its ath); "" at the
	// token endpoint, where ath must be absent.
	accessToken string
	// nonce, if not nil, is the nonce the proof must carry.
	nonce *nonceSource
}

// checkProof validates the request's DPoP proof (RFC 9449 §4.3) and returns its public key.
// Order: exactly one DPoP header; JWS structure; typ; alg allow-list; jwk present, public only,
// fitting alg; signature; jti, htm, htu, iat (and exp/nbf when present); ath; then the jti is
// recorded (so a proof refused only for its nonce is used up: the retry needs a new proof);
// last the nonce.
func (s *Server) checkProof(r *http.Request, pc proofCheck) (*publicKey, *proofError) {
	vals := r.Header.Values("DPoP")
	switch {
	case len(vals) == 0:
		return nil, invalidProof("the DPoP header is missing")
	case len(vals) > 1:
		return nil, invalidProof("more than one DPoP header")
	}
	j, err := parseCompactJWS(vals[0])
	if err != nil {
		return nil, invalidProof("malformed JWS: %v", err)
	}
	if typ, ok, err := j.header.str("typ"); err != nil || !ok || typ != DPoPProofTyp {
		return nil, invalidProof(`typ header must be "%s"`, DPoPProofTyp)
	}
	if !algAllowed(proofAlgs, j.alg) {
		return nil, invalidProof("alg %s is not allowed", short(j.alg))
	}
	jwkRaw, ok := j.header["jwk"]
	if !ok {
		return nil, invalidProof("the jwk header is missing")
	}
	if len(jwkRaw) == 0 || jwkRaw[0] != '{' {
		return nil, invalidProof("the jwk header must be a JSON object")
	}
	key, err := parsePublicJWK(jwkRaw)
	if err != nil {
		return nil, invalidProof("%v", err)
	}
	if err := keyFitsAlg(key, j.alg); err != nil {
		return nil, invalidProof("%v", err)
	}
	if err := j.verify(key); err != nil {
		return nil, invalidProof("signature does not verify with the jwk header")
	}

	jti, err := j.payload.requiredStr("jti")
	if err != nil {
		return nil, invalidProof("%v", err)
	}
	if len(jti) > maxJTILength {
		return nil, invalidProof("jti is too long")
	}
	htm, err := j.payload.requiredStr("htm")
	if err != nil {
		return nil, invalidProof("%v", err)
	}
	if htm != pc.method {
		return nil, invalidProof("htm does not match the request method %s", pc.method)
	}
	htu, err := j.payload.requiredStr("htu")
	if err != nil {
		return nil, invalidProof("%v", err)
	}
	if strings.ContainsAny(htu, "?#") {
		return nil, invalidProof("htu must not contain a query or fragment")
	}
	if htu != pc.htu {
		return nil, invalidProof("htu does not match the request URL %s", pc.htu)
	}
	now, window := s.now(), s.opts.ProofWindow
	iat, err := j.payload.requiredDate("iat")
	if err != nil {
		return nil, invalidProof("%v", err)
	}
	if d := now.Sub(iat); d > window || d < -window {
		return nil, invalidProof("iat is outside the accepted window of %s", window)
	}
	if exp, ok, err := j.payload.date("exp"); err != nil {
		return nil, invalidProof("%v", err)
	} else if ok && !now.Before(exp.Add(s.opts.Leeway)) {
		return nil, invalidProof("expired (exp is in the past)")
	}
	if nbf, ok, err := j.payload.date("nbf"); err != nil {
		return nil, invalidProof("%v", err)
	} else if ok && nbf.After(now.Add(s.opts.Leeway)) {
		return nil, invalidProof("not yet valid (nbf is in the future)")
	}
	ath, hasATH, err := j.payload.str("ath")
	if err != nil {
		return nil, invalidProof("%v", err)
	}
	if pc.accessToken == "" {
		if hasATH {
			return nil, invalidProof("ath must not be present at the token endpoint")
		}
	} else {
		sum := sha256.Sum256([]byte(pc.accessToken))
		want := b64.EncodeToString(sum[:])
		if !hasATH {
			return nil, invalidProof("ath is missing")
		}
		if subtle.ConstantTimeCompare([]byte(ath), []byte(want)) != 1 {
			return nil, invalidProof("ath does not match the access token")
		}
	}
	nonce, hasNonce, err := j.payload.str("nonce")
	if err != nil {
		return nil, invalidProof("%v", err)
	}

	// The proof is valid apart from its nonce: use up its jti. The record outlives the iat
	// window, after which the proof is refused for its iat anyway.
	switch err := s.proofJTIs.record(jti, iat.Add(window+time.Second), now); {
	case errors.Is(err, errReplayFull):
		return nil, &proofError{kind: proofUnavailable, desc: "helseidtest: replay cache full"}
	case err != nil:
		return nil, invalidProof("jti has already been used")
	}

	if pc.nonce != nil {
		if !hasNonce {
			return nil, &proofError{kind: proofNeedsNonce}
		}
		if !pc.nonce.matches(nonce) {
			return nil, &proofError{kind: proofNeedsNonce, stale: true}
		}
	}
	return key, nil
}
