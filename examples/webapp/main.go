// Command webapp is an EHR-style web backend that logs clinicians in through HelseID and calls
// two APIs with a separate token each (one audience per token, from one rotating refresh
// token): a start page, /login, /callback, /me (the user and the APIs' answers) and /logout.
//
// With no configuration it needs no network: it starts helseidtest (an in-process HelseID that
// logs its test user in at once) and two demo APIs behind helseid.Guard, and listens on a free
// loopback port, which it prints:
//
//	go run ./examples/webapp
//
// With configuration it runs against that HelseID:
//
//	HELSEID_ISSUER        issuer, e.g. https://helseid-sts.test.nhn.no
//	HELSEID_CLIENT_ID     the client's id
//	HELSEID_JWK_FILE      path to the client's private JWK
//	HELSEID_SCOPE         the scope to ask for, e.g. "openid profile offline_access helseid://scopes/identity/pid …"
//	HELSEID_REDIRECT_URI  the registered redirect URI; the app listens on its host and port
//	HELSEID_RESOURCES     optional: space-separated APIs (audiences) to get tokens for
//
// After the callback the page shows the user's pid claim and, for each resource, the audience
// of the token the session got for it. Register the redirect URI and, for logout, the app's
// origin with a trailing slash as a post-logout redirect URI.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := run(ctx, os.Getenv, func(addr string) { fmt.Printf("webapp: open %s in a browser (Ctrl-C stops)\n", addr) })
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "webapp:", err)
		os.Exit(1)
	}
}

// settings is the configuration of a run against a real HelseID; empty means in-process.
type settings struct {
	issuer, clientID, jwkFile, scope, redirectURI string
	resources                                     []string
}

func settingsFrom(getenv func(string) string) (settings, error) {
	s := settings{issuer: getenv("HELSEID_ISSUER"), clientID: getenv("HELSEID_CLIENT_ID"), jwkFile: getenv("HELSEID_JWK_FILE"),
		scope: getenv("HELSEID_SCOPE"), redirectURI: getenv("HELSEID_REDIRECT_URI"), resources: strings.Fields(getenv("HELSEID_RESOURCES"))}
	set := 0
	for _, v := range []string{s.issuer, s.clientID, s.jwkFile, s.scope, s.redirectURI} {
		if v != "" {
			set++
		}
	}
	switch {
	case set == 0 && len(s.resources) > 0:
		return s, errors.New("HELSEID_RESOURCES needs the other HELSEID_* settings")
	case set != 0 && set != 5:
		return s, errors.New("incomplete configuration: set HELSEID_ISSUER, HELSEID_CLIENT_ID, HELSEID_JWK_FILE, HELSEID_SCOPE and HELSEID_REDIRECT_URI, or none of them")
	}
	return s, nil
}

// run serves the app until ctx ends; ready is told the app's base URL once it listens.
func run(ctx context.Context, getenv func(string) string, ready func(baseURL string)) error {
	s, err := settingsFrom(getenv)
	if err != nil {
		return err
	}
	var (
		app *app
		ln  net.Listener
	)
	if s.issuer == "" {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		var closeAll func()
		app, closeAll, err = inProcess(ctx, "http://"+ln.Addr().String())
		if err != nil {
			ln.Close()
			return err
		}
		defer closeAll()
	} else {
		u, err := url.Parse(s.redirectURI)
		if err != nil || u.Host == "" {
			return errors.New("HELSEID_REDIRECT_URI must be an absolute URL")
		}
		if ln, err = net.Listen("tcp", u.Host); err != nil {
			return err
		}
		if app, err = external(s); err != nil {
			ln.Close()
			return err
		}
		defer app.client.Close()
	}
	srv := &http.Server{Handler: app.routes(), ReadHeaderTimeout: 10 * time.Second}
	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(ln) }()
	ready(app.base)
	select {
	case <-ctx.Done():
	case err := <-errs:
		return err
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	return ctx.Err()
}
