package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
)

func token(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("token", "-client-id ID -key FILE -scope SCOPE (-env test|prod | -issuer URL | -local)", stderr)
	var cf clientFlags
	cf.register(fs)
	var scopes stringList
	fs.Var(&scopes, "scope", "scope to request, repeatable (required)")
	org := fs.String("org", "", "organisation number: PARENT or PARENT:CHILD")
	show := fs.Bool("show-token", false, "print the access token itself (a secret) after the claims")
	if err := parse(fs, args); err != nil {
		return err
	}
	if len(scopes) == 0 {
		return errors.New("-scope is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), cf.timeout)
	defer cancel()
	s, err := cf.open(ctx, scopes)
	if err != nil {
		return err
	}
	defer s.Close()
	resp, err := s.client.ClientCredentials(ctx, cf.request(scopes, *org))
	if err != nil {
		return err
	}
	claims, err := decodeClaims(resp.AccessToken)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", claims)
	if *show {
		fmt.Fprintln(stdout, resp.AccessToken)
	}
	return nil
}

// decodeClaims returns a JWT's payload, indented; the signature is not checked (verify does).
func decodeClaims(jwt string) ([]byte, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, errors.New("the access token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("the access token's payload is not base64url")
	}
	var out bytes.Buffer
	if err := json.Indent(&out, payload, "", "  "); err != nil {
		return nil, errors.New("the access token's payload is not json")
	}
	return out.Bytes(), nil
}

// headerList is a repeatable "Name: value" flag.
type headerList []string

func (l *headerList) String() string     { return strings.Join(*l, ", ") }
func (l *headerList) Set(v string) error { *l = append(*l, v); return nil }

func call(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("call", "-client-id ID -key FILE -scope SCOPE [-X METHOD] [-H 'Name: value'] [-d BODY|@FILE] (-env | -issuer | -local) URL", stderr)
	var cf clientFlags
	cf.register(fs)
	var scopes stringList
	var headers headerList
	fs.Var(&scopes, "scope", "scope of the API's token, repeatable (required)")
	fs.Var(&headers, "H", "request header 'Name: value', repeatable (not Authorization or DPoP)")
	method := fs.String("X", "", "method; default GET, or POST with -d")
	data := fs.String("d", "", "request body, or @FILE to read it from a file")
	org := fs.String("org", "", "organisation number: PARENT or PARENT:CHILD")
	if err := parse(fs, args); err != nil {
		return err
	}
	if len(scopes) == 0 || fs.NArg() != 1 {
		return errors.New("-scope and one URL are required")
	}
	target := fs.Arg(0)
	ctx, cancel := context.WithTimeout(context.Background(), cf.timeout)
	defer cancel()
	s, err := cf.open(ctx, scopes)
	if err != nil {
		return err
	}
	defer s.Close()
	if cf.local && !strings.Contains(target, "://") {
		target = s.local.APIURL() + target // a path on helseidtest's demo API
	}
	var body io.Reader
	if *data != "" {
		b := []byte(*data)
		if strings.HasPrefix(*data, "@") {
			if b, err = os.ReadFile((*data)[1:]); err != nil {
				return err
			}
		}
		body = bytes.NewReader(b)
		if *method == "" {
			*method = http.MethodPost
		}
	}
	if *method == "" {
		*method = http.MethodGet
	}
	r, err := http.NewRequestWithContext(ctx, *method, target, body)
	if err != nil {
		return err
	}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return fmt.Errorf("header %q is not 'Name: value'", h)
		}
		if n := http.CanonicalHeaderKey(strings.TrimSpace(name)); n == "Authorization" || n == "Dpop" {
			return fmt.Errorf("header %s is the SDK's to set", n)
		}
		r.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	hc, err := s.client.HTTPClient(cf.request(scopes, *org))
	if err != nil {
		return err
	}
	resp, err := hc.Do(r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	fmt.Fprintf(stdout, "%s %s\n", resp.Proto, resp.Status)
	names := make([]string, 0, len(resp.Header))
	for n := range resp.Header {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, v := range resp.Header[n] {
			fmt.Fprintf(stdout, "%s: %s\n", n, v)
		}
	}
	fmt.Fprintln(stdout)
	if _, err := io.Copy(stdout, io.LimitReader(resp.Body, 16<<20)); err != nil {
		return fmt.Errorf("read the body: %w", err)
	}
	return nil
}
