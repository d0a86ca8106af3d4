package helseidtest

import "sync/atomic"

// Stats are the server's request counters. Every token-endpoint request counts in
// TokenRequests, then in exactly one of NonceChallenges, TokensIssued or TokenErrors, unless a
// token hook handled it. Every demo-API request counts in APIRequests, then in exactly one of
// APINonceChallenges, APIRejections or neither (a success).
type Stats struct {
	TokenRequests       int64 // requests to the token endpoint, hook-handled ones included
	NonceChallenges     int64 // 400 use_dpop_nonce responses from the token endpoint
	TokensIssued        int64 // 200 responses from the token endpoint
	TokenErrors         int64 // other error responses from the token endpoint
	APIRequests         int64 // requests to the demo API
	APIRejections       int64 // demo-API error responses other than nonce challenges
	APINonceChallenges  int64 // demo-API 401 use_dpop_nonce responses
	SelfServiceRequests int64 // requests to the self-service endpoint (ClientSecretPath)
	KeysRegistered      int64 // keys registered through it
}

type counters struct {
	tokenRequests, nonceChallenges, tokensIssued, tokenErrors atomic.Int64
	apiRequests, apiRejections, apiNonceChallenges            atomic.Int64
	selfServiceRequests, keysRegistered                       atomic.Int64
}

// Stats returns a snapshot of the counters. It is safe to call concurrently with requests.
func (s *Server) Stats() Stats {
	c := &s.stats
	return Stats{
		TokenRequests:       c.tokenRequests.Load(),
		NonceChallenges:     c.nonceChallenges.Load(),
		TokensIssued:        c.tokensIssued.Load(),
		TokenErrors:         c.tokenErrors.Load(),
		APIRequests:         c.apiRequests.Load(),
		APIRejections:       c.apiRejections.Load(),
		APINonceChallenges:  c.apiNonceChallenges.Load(),
		SelfServiceRequests: c.selfServiceRequests.Load(),
		KeysRegistered:      c.keysRegistered.Load(),
	}
}
