package dpop

import (
	"errors"
	"strconv"

	"github.com/helseid-go/sdk/internal/jose"
)

// proofClaims are the members a proof is checked on. Unknown members are ignored, as RFC 7515
// §4 and RFC 9449 §4.2 allow; a member given as null counts as absent, as it does for
// encoding/json.
type proofClaims struct {
	jti, htm, htu string
	iat           float64
	nonce, ath    string
	// hasIAT, hasNonce and hasATH: the member is present and not null.
	hasIAT, hasNonce, hasATH bool
}

// proofClaimNames are the members parseProofClaims reads, each spelt exactly so.
var proofClaimNames = []string{"jti", "htm", "htu", "iat", "nonce", "ath"}

var errProofClaims = errors.New("its claims are not a JSON object of the expected types")

// parseProofClaims decodes a proof's payload in one pass over a validated JSON object, with no
// reflection and no map: the proof is checked on every request, also for a token the Guard
// already remembers. It is stricter than encoding/json, which it replaced: a member it reads
// may appear only once and only spelt exactly so ({"HTM": …} refuses the proof, where
// encoding/json would have read it case-insensitively and taken the last of two).
func parseProofClaims(payload []byte) (proofClaims, error) {
	var c proofClaims
	var seen uint8
	err := jose.EachMember(payload, func(name, value []byte) error {
		var bit uint8
		var dst *string
		var has *bool
		switch string(name) {
		case "jti":
			bit, dst = 1, &c.jti
		case "htm":
			bit, dst = 2, &c.htm
		case "htu":
			bit, dst = 4, &c.htu
		case "nonce":
			bit, dst, has = 8, &c.nonce, &c.hasNonce
		case "ath":
			bit, dst, has = 16, &c.ath, &c.hasATH
		case "iat":
			bit = 32
		default:
			if jose.MisspeltMember(name, proofClaimNames) {
				return errProofClaims
			}
			return nil
		}
		if seen&bit != 0 {
			return errProofClaims
		}
		seen |= bit
		if dst == nil { // iat: a NumericDate, as encoding/json reads a float64
			if string(value) == "null" {
				return nil
			}
			if c := value[0]; c != '-' && (c < '0' || c > '9') {
				return errProofClaims
			}
			f, err := strconv.ParseFloat(string(value), 64)
			if err != nil {
				return errProofClaims
			}
			c.iat, c.hasIAT = f, true
			return nil
		}
		s, present, ok := jose.StringMember(value)
		if !ok {
			return errProofClaims
		}
		*dst = s
		if has != nil {
			*has = present
		}
		return nil
	})
	if err != nil {
		return proofClaims{}, errProofClaims
	}
	return c, nil
}
