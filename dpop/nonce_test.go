package dpop

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RFC 9449 §8 and §8.2 nonces.
const (
	nonceTestRFC     = "eyJ7S_zG.eyJH0-Z.HX4w-7v"
	nonceTestRFCNext = "eyJ7S_zG.eyJbYu3.xQmBj-1"
)

func TestValidNonce(t *testing.T) {
	var all strings.Builder
	for c := 0x21; c <= 0x7e; c++ {
		if c != '"' && c != '\\' {
			all.WriteByte(byte(c))
		}
	}
	tests := []struct {
		name  string
		in    string
		valid bool
	}{
		{"RFC 9449 §8", nonceTestRFC, true},
		{"RFC 9449 §8.2", nonceTestRFCNext, true},
		{"one char", "x", true},
		{"every NQCHAR", all.String(), true},
		{"comma is an NQCHAR", "a,b", true},
		{"1024 chars", strings.Repeat("n", 1024), true},
		{"1025 chars", strings.Repeat("n", 1025), false},
		{"empty", "", false},
		{"space", "a b", false},
		{"leading space", " ab", false},
		{"tab", "a\tb", false},
		{"double quote", `a"b`, false},
		{"backslash", `a\b`, false},
		{"DEL", "a\x7fb", false},
		{"NUL", "a\x00b", false},
		{"newline", "a\nb", false},
		{"non-ASCII", "æøå", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.valid, ValidNonce(tc.in))
		})
	}
}

func nonceTestURL(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u
}

func TestNonceStoreSetAndNonce(t *testing.T) {
	s := NewNonceStore()
	const as, rs = "https://server.example.com", "https://resource.example.org"

	assert.Empty(t, s.Nonce(as), "empty store")

	require.True(t, s.Set(as, nonceTestRFC))
	assert.Equal(t, nonceTestRFC, s.Nonce(as))
	assert.Empty(t, s.Nonce(rs), "origins are kept apart")

	require.True(t, s.Set(rs, "rs-nonce-1"))
	assert.Equal(t, "rs-nonce-1", s.Nonce(rs))
	assert.Equal(t, nonceTestRFC, s.Nonce(as))

	// The newest value set wins.
	require.True(t, s.Set(as, nonceTestRFCNext))
	assert.Equal(t, nonceTestRFCNext, s.Nonce(as))
	for i := range 100 {
		require.True(t, s.Set(as, "n"+strconv.Itoa(i)))
	}
	assert.Equal(t, "n99", s.Nonce(as))

	// Invalid nonces and origins are ignored and leave the stored value alone.
	for _, bad := range []string{"", "a b", `a"b`, "a\\b", "æ", strings.Repeat("n", 1025)} {
		assert.False(t, s.Set(as, bad), "%q", bad)
		assert.Equal(t, "n99", s.Nonce(as))
	}
	assert.False(t, s.Set("", "x"), "empty origin")
	assert.False(t, s.Set("https://"+strings.Repeat("a", 1024), "x"), "oversize origin")
	assert.Len(t, *s.origins.Load(), 2)
}

func TestNonceStoreObserve(t *testing.T) {
	hdr := func(vals ...string) http.Header {
		h := http.Header{}
		for _, v := range vals {
			h.Add("DPoP-Nonce", v)
		}
		return h
	}
	token := nonceTestURL(t, "https://server.example.com/token")

	t.Run("from a 400 use_dpop_nonce and then a 200", func(t *testing.T) {
		s := NewNonceStore()
		s.Observe(token, hdr(nonceTestRFC))
		assert.Equal(t, nonceTestRFC, s.Nonce("https://server.example.com"))
		s.Observe(token, hdr(nonceTestRFCNext)) // RFC 9449 §8.2: the next nonce on a success
		assert.Equal(t, nonceTestRFCNext, s.Nonce("https://server.example.com"))
	})
	t.Run("keyed by normalised origin", func(t *testing.T) {
		s := NewNonceStore()
		s.Observe(nonceTestURL(t, "HTTPS://Server.Example.com:443/token?x=1"), hdr("n1"))
		assert.Equal(t, "n1", s.Nonce(Origin(nonceTestURL(t, "https://server.example.com/other/path"))))
		assert.Empty(t, s.Nonce(Origin(nonceTestURL(t, "https://server.example.com:8443/token"))))
		assert.Empty(t, s.Nonce(Origin(nonceTestURL(t, "http://server.example.com/token"))))
	})
	t.Run("non-canonical header key from the wire", func(t *testing.T) {
		s := NewNonceStore()
		h := http.Header{}
		h.Set("dpop-nonce", "n1")
		s.Observe(token, h)
		assert.Equal(t, "n1", s.Nonce("https://server.example.com"))
	})
	t.Run("two headers ignored", func(t *testing.T) {
		s := NewNonceStore()
		require.True(t, s.Set("https://server.example.com", "old"))
		s.Observe(token, hdr("n1", "n2"))
		assert.Equal(t, "old", s.Nonce("https://server.example.com"))
		s.Observe(token, hdr("n1", "n1"))
		assert.Equal(t, "old", s.Nonce("https://server.example.com"), "even when equal")
	})
	t.Run("invalid syntax ignored", func(t *testing.T) {
		s := NewNonceStore()
		require.True(t, s.Set("https://server.example.com", "old"))
		for _, bad := range []string{"", "a b", `"quoted"`, "a\\b", strings.Repeat("n", 1025)} {
			s.Observe(token, hdr(bad))
			assert.Equal(t, "old", s.Nonce("https://server.example.com"), "%q", bad)
		}
	})
	t.Run("no header, nil URL, relative URL", func(t *testing.T) {
		s := NewNonceStore()
		s.Observe(token, http.Header{})
		s.Observe(token, nil)
		s.Observe(nil, hdr("n1"))
		s.Observe(&url.URL{Path: "/token"}, hdr("n1"))
		assert.Empty(t, *s.origins.Load())
	})
}

func TestNonceStoreBoundedOrigins(t *testing.T) {
	s := NewNonceStore()
	origin := func(i int) string { return "https://o" + strconv.Itoa(i) + ".example" }
	for i := range maxNonceOrigins {
		require.True(t, s.Set(origin(i), "n"+strconv.Itoa(i)))
	}
	require.Len(t, *s.origins.Load(), maxNonceOrigins)

	// Refresh origin 0: origin 1 is now the one set longest ago, and goes first.
	require.True(t, s.Set(origin(0), "fresh"))
	require.True(t, s.Set(origin(maxNonceOrigins), "new"))
	assert.Len(t, *s.origins.Load(), maxNonceOrigins)
	assert.Equal(t, "fresh", s.Nonce(origin(0)))
	assert.Empty(t, s.Nonce(origin(1)), "least recently set origin evicted")
	assert.Equal(t, "new", s.Nonce(origin(maxNonceOrigins)))
	assert.Equal(t, "n2", s.Nonce(origin(2)))

	// Many more origins: the size stays bounded and the newest are kept.
	for i := maxNonceOrigins + 1; i < 3*maxNonceOrigins; i++ {
		require.True(t, s.Set(origin(i), "n"+strconv.Itoa(i)))
	}
	assert.Len(t, *s.origins.Load(), maxNonceOrigins)
	assert.Equal(t, "n"+strconv.Itoa(3*maxNonceOrigins-1), s.Nonce(origin(3*maxNonceOrigins-1)))
	assert.Empty(t, s.Nonce(origin(0)))
}

func TestNonceStoreConcurrent(t *testing.T) {
	const (
		writers = 32
		readers = 32
		perW    = 40 // origins owned by each writer
		rounds  = 20
	)
	s := NewNonceStore()
	origin := func(i int) string { return "https://o" + strconv.Itoa(i) + ".example" }
	nonce := func(o, r int) string { return "o" + strconv.Itoa(o) + "-r" + strconv.Itoa(r) }
	shared := origin(-1)
	sharedURL := nonceTestURL(t, shared+"/token")

	var wg sync.WaitGroup
	errs := make(chan string, readers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				for i := range perW {
					o := w*perW + i
					if !s.Set(origin(o), nonce(o, r)) {
						errs <- fmt.Sprintf("set %d refused", o)
						return
					}
				}
				s.Observe(sharedURL, http.Header{"Dpop-Nonce": {"shared-" + strconv.Itoa(w)}})
			}
		}()
	}
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				for o := range writers * perW {
					got := s.Nonce(origin(o))
					if got != "" && !strings.HasPrefix(got, "o"+strconv.Itoa(o)+"-r") {
						errs <- fmt.Sprintf("origin %d has nonce %q from another origin", o, got)
						return
					}
				}
				if got := s.Nonce(shared); got != "" && !strings.HasPrefix(got, "shared-") {
					errs <- fmt.Sprintf("shared origin has nonce %q (round %d)", got, r)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}

	// 32*40+1 = 1281 origins went through a store that keeps 1024.
	require.Len(t, *s.origins.Load(), maxNonceOrigins)
	kept := 0
	if got := s.Nonce(shared); got != "" {
		assert.True(t, strings.HasPrefix(got, "shared-"), got)
		kept++
	}
	// Each origin has one writer, so a surviving origin holds that writer's last value.
	for o := range writers * perW {
		switch got := s.Nonce(origin(o)); got {
		case "":
		case nonce(o, rounds-1):
			kept++
		default:
			t.Errorf("origin %d: got %q, want the last value set", o, got)
		}
	}
	assert.Equal(t, maxNonceOrigins, kept, "every stored origin holds a value set for it")
}

func TestNonceStoreNonceDoesNotAllocate(t *testing.T) {
	s := NewNonceStore()
	require.True(t, s.Set("https://server.example.com", nonceTestRFC))
	allocs := testing.AllocsPerRun(1000, func() {
		if s.Nonce("https://server.example.com") != nonceTestRFC || s.Nonce("https://other.example") != "" {
			panic("wrong nonce")
		}
	})
	assert.Zero(t, allocs)
}

func nonceTestOrigins(n int) []string {
	origins := make([]string, n)
	for i := range origins {
		origins[i] = "https://api" + strconv.Itoa(i) + ".example.com"
	}
	return origins
}

// BenchmarkNonceStoreNonce measures the hot-path read under parallel load: 0 allocs/op, and
// no shared write, so it scales with cores. Compare with BenchmarkNonceStoreNonceRWMutexBaseline.
func BenchmarkNonceStoreNonce(b *testing.B) {
	origins := nonceTestOrigins(64)
	s := NewNonceStore()
	for _, o := range origins {
		s.Set(o, nonceTestRFC)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if s.Nonce(origins[i&63]) == "" {
				b.Error("missing nonce")
				return
			}
			i++
		}
	})
}

// BenchmarkNonceStoreNonceRWMutexBaseline is the obvious design (a map under sync.RWMutex),
// kept as the baseline the store is measured against in the same run.
func BenchmarkNonceStoreNonceRWMutexBaseline(b *testing.B) {
	origins := nonceTestOrigins(64)
	var mu sync.RWMutex
	m := make(map[string]string)
	for _, o := range origins {
		m[o] = nonceTestRFC
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			mu.RLock()
			n := m[origins[i&63]]
			mu.RUnlock()
			if n == "" {
				b.Error("missing nonce")
				return
			}
			i++
		}
	})
}

// BenchmarkNonceStoreNonceWithUpdates reads while one writer keeps replacing nonces, as when
// servers send a new nonce on every response.
func BenchmarkNonceStoreNonceWithUpdates(b *testing.B) {
	origins := nonceTestOrigins(64)
	s := NewNonceStore()
	for _, o := range origins {
		s.Set(o, nonceTestRFC)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
				s.Set(origins[i&63], nonceTestRFCNext)
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_ = s.Nonce(origins[i&63])
			i++
		}
	})
	b.StopTimer()
	close(stop)
	<-done
}

func BenchmarkNonceStoreSetExisting(b *testing.B) {
	s := NewNonceStore()
	s.Set("https://server.example.com", nonceTestRFC)
	b.ReportAllocs()
	for b.Loop() {
		s.Set("https://server.example.com", nonceTestRFCNext)
	}
}
