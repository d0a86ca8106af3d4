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
//	HELSEID_LISTEN        optional: host:port to listen on instead, when the app is behind a proxy
//
// After the callback the page shows the user's pid claim and, for each resource, the audience
// of the token the session got for it. Register the redirect URI and, for logout, the app's
// origin with a trailing slash as a post-logout redirect URI.
//
// Logins and sessions are kept in this process's memory (helseid's default stores). The same
// app as a fleet, with its logins and sessions in Redis so that several instances serve one
// public address without sticky sessions, is helseid/helseidredis/examples/webapp.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"github.com/helseid-go/sdk/examples/webapp/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := app.Run(ctx, os.Getenv, app.Stores{}, func(_, base string) {
		fmt.Printf("webapp: open %s in a browser (Ctrl-C stops)\n", base)
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "webapp:", err)
		os.Exit(1)
	}
}
