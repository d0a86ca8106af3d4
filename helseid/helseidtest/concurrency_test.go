package helseidtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid/helseidtest"
)

// prepared is a fully signed token request that any goroutine can send.
type prepared struct {
	body  string
	proof string
}

func (h *harness) prepare(r *tokenReq) prepared {
	form := url.Values{}
	for k, v := range r.Form {
		form[k] = v
	}
	form.Set("client_assertion", r.assertion(h.t))
	return prepared{body: form.Encode(), proof: r.proof(h.t)}
}

// post sends p and returns the status and error code. It does not touch testing.T.
func post(hc *http.Client, endpoint string, p prepared) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(p.body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", p.proof)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", err
	}
	_ = json.Unmarshal(data, &body)
	return resp.StatusCode, body.Error, nil
}

type outcome struct {
	status int
	code   string
	err    error
}

func sendAll(h *harness, reqs []prepared) []outcome {
	out := make([]outcome, len(reqs))
	var wg sync.WaitGroup
	for i, p := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, c, err := post(h.hc, h.srv.TokenEndpoint(), p)
			out[i] = outcome{s, c, err}
		}()
	}
	wg.Wait()
	return out
}

func TestConcurrentTokenRequests(t *testing.T) {
	h := newHarness(t, helseidtest.Options{})
	const clients, perClient = 16, 8
	var cs []*tclient
	for i := 0; i < clients; i++ {
		cs = append(cs, h.client("c"+string(rune('a'+i)), readScope))
	}
	h.token(cs[0]) // learn the nonce

	var reqs []prepared
	for _, c := range cs {
		for j := 0; j < perClient; j++ {
			reqs = append(reqs, h.prepare(h.tokenReq(c)))
		}
	}

	// Meanwhile, the rest of the API is used concurrently.
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = h.srv.Stats()
			_ = h.srv.PublicKeys()
			_ = h.srv.Discovery()
			_, _ = h.srv.GenerateClient("bg"+string(rune('A'+i%26))+strings.Repeat("x", i/26), readScope)
			h.srv.RequireAPINonce(i%2 == 0)
			h.srv.SetTokenHook(nil)
		}
	}()
	outs := sendAll(h, reqs)
	close(stop)
	bg.Wait()

	for i, o := range outs {
		require.NoError(t, o.err, i)
		assert.Equal(t, http.StatusOK, o.status, "request %d: %s", i, o.code)
	}
	st := h.srv.Stats()
	assert.EqualValues(t, clients*perClient+2, st.TokensIssued+st.NonceChallenges)
	assert.EqualValues(t, clients*perClient+1, st.TokensIssued)
}

func TestConcurrentReplaysHaveOneWinner(t *testing.T) {
	h := newHarness(t, helseidtest.Options{Nonce: helseidtest.NonceNone})
	c := h.client("c", readScope)
	const n = 24

	t.Run("same assertion", func(t *testing.T) {
		h := h.with(t)
		first := h.tokenReq(c)
		first.assertion(t)
		var reqs []prepared
		for i := 0; i < n; i++ {
			r := h.tokenReq(c)
			r.Assertion = first.Assertion
			reqs = append(reqs, h.prepare(r))
		}
		ok, replay := 0, 0
		for _, o := range sendAll(h, reqs) {
			require.NoError(t, o.err)
			switch {
			case o.status == http.StatusOK:
				ok++
			case o.status == http.StatusUnauthorized && o.code == "invalid_client":
				replay++
			}
		}
		assert.Equal(t, 1, ok)
		assert.Equal(t, n-1, replay)
	})

	t.Run("same proof", func(t *testing.T) {
		h := h.with(t)
		proof := h.tokenReq(c).proof(t)
		var reqs []prepared
		for i := 0; i < n; i++ {
			p := h.prepare(h.tokenReq(c))
			p.proof = proof
			reqs = append(reqs, p)
		}
		ok, replay := 0, 0
		for _, o := range sendAll(h, reqs) {
			require.NoError(t, o.err)
			switch {
			case o.status == http.StatusOK:
				ok++
			case o.status == http.StatusBadRequest && o.code == "invalid_dpop_proof":
				replay++
			}
		}
		assert.Equal(t, 1, ok)
		assert.Equal(t, n-1, replay)
	})
}

func TestConcurrentAPIRequests(t *testing.T) {
	h := newHarness(t, helseidtest.Options{Nonce: helseidtest.NonceNone})
	c := h.client("c", readScope)
	token := h.token(c)
	const n = 32
	var reqs []*http.Request
	for i := 0; i < n; i++ {
		r := h.apiReq(c, token)
		req := mustRequest(t, http.MethodGet, r.URL)
		req.Header.Set("Authorization", r.Auth)
		req.Header.Set("DPoP", signJWS(t, r.PHeader, r.PClaims, "ES256", r.PKey))
		reqs = append(reqs, req)
	}
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := h.hc.Do(req)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		assert.Equal(t, http.StatusOK, s, i)
	}
	assert.EqualValues(t, n, h.srv.Stats().APIRequests)
}
