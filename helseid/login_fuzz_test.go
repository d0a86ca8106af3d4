package helseid_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/helseid-go/sdk/helseid"
)

// FuzzParseCallback: any query is parsed or refused without a panic, and no refusal quotes a
// parameter's value.
func FuzzParseCallback(f *testing.F) {
	f.Add("code=x1848ZT64p4IirMPT0R-X3141MFPTuBX-VFL_cvaplMH58&state=ZWVlNDBlYzA1NjdkMDNhYjg3ZjUxZjAyNGQzMTM2NzI&iss=https%3A%2F%2Fhonest.as.example")
	f.Add("error=access_denied&state=N2JjNGJhY2JiZjRhYzA3MGJkMzNmMDE5OWJhZmJhZjA&iss=https%3A%2F%2Fhonest.as.example")
	f.Add("code=a&code=b")
	f.Add("error=%00&error_description=%0d%0a")
	f.Add("code=a&error=b")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		cb, err := helseid.ParseCallback(q)
		if err != nil {
			for _, vals := range q {
				for _, v := range vals {
					if len(v) > 8 && strings.Contains(err.Error(), v) {
						t.Fatal("the error quotes a value")
					}
				}
			}
			return
		}
		if cb.Code != "" && cb.Error != "" {
			t.Fatal("both code and error")
		}
		if strings.ContainsAny(cb.ErrorDescription, "\x00\r\n\"") {
			t.Fatal("control characters in the description")
		}
	})
}
