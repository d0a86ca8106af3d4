package dpop

import (
	"fmt"
	"log/slog"

	"github.com/helseid-go/sdk/internal/redact"
)

// summary is all a ProofRequest shows of itself: the access token is left out, and so is the
// URL's query, which a proof never covers.
func (r ProofRequest) summary() redact.Summary {
	target := ""
	if r.URL != nil {
		target = r.URL.Scheme + "://" + r.URL.Host + r.URL.EscapedPath()
	}
	return redact.Of("dpop.ProofRequest", slog.String("method", r.Method), slog.String("url", target),
		redact.Secret("access_token", r.AccessToken), slog.String("jkt", r.JKT))
}

// String never shows the access token.
func (r ProofRequest) String() string { return r.summary().String() }

// GoString never shows the access token.
func (r ProofRequest) GoString() string { return r.summary().String() }

// Format never shows the access token, whatever the verb.
func (r ProofRequest) Format(f fmt.State, verb rune) { r.summary().Format(f, verb) }

// LogValue never shows the access token.
func (r ProofRequest) LogValue() slog.Value { return r.summary().LogValue() }

// MarshalJSON never shows the access token: slog's JSON handler marshals a ProofRequest when
// it is a field of a logged struct.
func (r ProofRequest) MarshalJSON() ([]byte, error) { return r.summary().MarshalJSON() }

// summary is all a ProoferConfig shows of itself: the algorithm and the key's type, never the
// key (an Ed25519 key is a byte slice that fmt would print whole).
func (c ProoferConfig) summary() redact.Summary {
	key := "none"
	if c.Key != nil {
		key = redact.Redacted + " " + fmt.Sprintf("%T", c.Key)
	}
	return redact.Of("dpop.ProoferConfig", slog.String("algorithm", c.Algorithm), slog.String("key", key))
}

// String never shows the private key.
func (c ProoferConfig) String() string { return c.summary().String() }

// GoString never shows the private key.
func (c ProoferConfig) GoString() string { return c.summary().String() }

// Format never shows the private key, whatever the verb.
func (c ProoferConfig) Format(f fmt.State, verb rune) { c.summary().Format(f, verb) }

// LogValue never shows the private key.
func (c ProoferConfig) LogValue() slog.Value { return c.summary().LogValue() }

// summary is all a Proofer shows of itself: its algorithm and key thumbprint.
func (p *Proofer) summary() redact.Summary {
	if p == nil {
		return redact.Nil
	}
	return redact.Of("dpop.Proofer", slog.String("algorithm", p.Algorithm()), slog.String("jkt", p.thumbprint))
}

// String shows the algorithm and the key's thumbprint only.
func (p *Proofer) String() string { return p.summary().String() }

// GoString shows the algorithm and the key's thumbprint only.
func (p *Proofer) GoString() string { return p.summary().String() }

// Format shows the algorithm and the key's thumbprint only, whatever the verb.
func (p *Proofer) Format(f fmt.State, verb rune) { p.summary().Format(f, verb) }

// LogValue shows the algorithm and the key's thumbprint only.
func (p *Proofer) LogValue() slog.Value { return p.summary().LogValue() }

// summary is all a NonceSource shows of itself: never its secret, with which anyone could
// mint nonces the API accepts.
func (s *NonceSource) summary() redact.Summary {
	if s == nil {
		return redact.Nil
	}
	return redact.Of("dpop.NonceSource", slog.Duration("lifetime", s.lifetime), slog.String("secret", redact.Redacted))
}

// String never shows the secret.
func (s *NonceSource) String() string { return s.summary().String() }

// GoString never shows the secret.
func (s *NonceSource) GoString() string { return s.summary().String() }

// Format never shows the secret, whatever the verb.
func (s *NonceSource) Format(f fmt.State, verb rune) { s.summary().Format(f, verb) }

// LogValue never shows the secret.
func (s *NonceSource) LogValue() slog.Value { return s.summary().LogValue() }

// summary is all a Transport shows of itself: fmt would otherwise print its token source by
// reflection, and with it whatever holds the tokens.
func (t *Transport) summary() redact.Summary {
	if t == nil {
		return redact.Nil
	}
	return redact.Of("dpop.Transport", slog.String("base", fmt.Sprintf("%T", t.Base)), slog.Any("proofer", t.Proofer),
		slog.String("tokens", fmt.Sprintf("%T", t.Tokens)))
}

// String never shows a token or a key.
func (t *Transport) String() string { return t.summary().String() }

// GoString never shows a token or a key.
func (t *Transport) GoString() string { return t.summary().String() }

// Format never shows a token or a key, whatever the verb.
func (t *Transport) Format(f fmt.State, verb rune) { t.summary().Format(f, verb) }

// LogValue never shows a token or a key.
func (t *Transport) LogValue() slog.Value { return t.summary().LogValue() }

// summary is all a Verifier shows of itself: never its nonce secret.
func (v *Verifier) summary() redact.Summary {
	if v == nil {
		return redact.Nil
	}
	return redact.Of("dpop.Verifier", slog.Any("algorithms", v.algs), slog.Duration("max_age", v.maxAge),
		slog.Bool("nonces", v.nonces != nil))
}

// String never shows the nonce secret.
func (v *Verifier) String() string { return v.summary().String() }

// GoString never shows the nonce secret.
func (v *Verifier) GoString() string { return v.summary().String() }

// Format never shows the nonce secret, whatever the verb.
func (v *Verifier) Format(f fmt.State, verb rune) { v.summary().Format(f, verb) }

// LogValue never shows the nonce secret.
func (v *Verifier) LogValue() slog.Value { return v.summary().LogValue() }
