package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/helseid/keystore"
	"github.com/helseid-go/sdk/helseid/selfservice"
)

var (
	errHelp  = errors.New("help shown")
	errUsage = errors.New("usage shown")
)

// newFlags returns a command's flag set, printing its usage to stderr.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: helseid %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, telling -h (exit 0) from a bad flag (exit 2).
func parse(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return errHelp
	case err != nil:
		return errUsage
	}
	return nil
}

// clientFlags name the client and the server it talks to.
type clientFlags struct {
	env, issuer, selfService, clientID, keyFile string
	local                                       bool
	multiTenant                                 bool
	timeout                                     time.Duration
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.env, "env", "", "HelseID environment: test or prod")
	fs.StringVar(&c.issuer, "issuer", "", "issuer URL of another server (a helseidtest); overrides -env")
	fs.StringVar(&c.selfService, "selfservice", "", "self-service API base URL; default: the environment's, or the issuer's for -issuer")
	fs.StringVar(&c.clientID, "client-id", "", "the client's id (required)")
	fs.StringVar(&c.keyFile, "key", "", "the key file: a private JWK or a key store file (required)")
	fs.BoolVar(&c.local, "local", false, "start a helseidtest in this process, with the client and its key registered")
	fs.BoolVar(&c.multiTenant, "multi-tenant", false, "the client is registered as multi-tenant")
	fs.DurationVar(&c.timeout, "timeout", time.Minute, "time limit of the whole command")
}

// session is a configured client, and the local server it may have started.
type session struct {
	cfg    helseid.Config
	store  *keystore.FileStore
	keys   *keystore.Keys
	ssURL  string
	local  *helseidtest.Server
	client *helseid.Client
}

func (s *session) Close() {
	if s.client != nil {
		s.client.Close()
	}
	if s.local != nil {
		s.local.Close()
	}
}

// open reads the key and configures the client; scopes are registered with -local.
func (c *clientFlags) open(ctx context.Context, scopes []string) (*session, error) {
	if c.clientID == "" || c.keyFile == "" {
		return nil, errors.New("-client-id and -key are required")
	}
	s := &session{store: keystore.NewFileStore(c.keyFile)}
	keys, err := s.store.Load(ctx)
	if err != nil {
		return nil, err
	}
	s.keys = keys
	s.cfg = helseid.Config{ClientID: c.clientID, Key: keys.Current}
	if c.multiTenant {
		s.cfg.Tenancy = helseid.MultiTenant
	}
	switch {
	case c.local:
		pub, err := keys.Current.PublicJWK()
		if err != nil {
			return nil, err
		}
		srv, err := helseidtest.Start(helseidtest.Options{})
		if err != nil {
			return nil, fmt.Errorf("start helseidtest: %w", err)
		}
		reg := helseidtest.ClientRegistration{ID: c.clientID, PublicJWK: pub, OrgNumber: helseidtest.DefaultOrgNumber,
			Scopes: append([]string{selfservice.Scope}, scopes...), MultiTenant: c.multiTenant}
		if err := srv.RegisterClient(reg); err != nil {
			srv.Close()
			return nil, fmt.Errorf("register the client in helseidtest: %w", err)
		}
		s.local, s.cfg.Issuer, s.ssURL = srv, srv.Issuer(), srv.SelfServiceURL()
	case c.issuer != "":
		s.cfg.Issuer, s.ssURL = c.issuer, c.issuer
	case c.env == "test":
		s.cfg.Issuer, s.ssURL = helseid.TestIssuer, selfservice.TestBaseURL
	case c.env == "prod":
		s.cfg.Issuer, s.ssURL = helseid.ProductionIssuer, selfservice.ProductionBaseURL
	case c.env == "":
		return nil, errors.New("name the server: -env test, -env prod, -issuer URL or -local")
	default:
		return nil, fmt.Errorf("-env %q is neither test nor prod", c.env)
	}
	if c.selfService != "" {
		s.ssURL = c.selfService
	}
	if s.client, err = helseid.NewClient(s.cfg); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// organization parses "parent" or "parent:child".
func organization(v string) helseid.Organization {
	parent, child, _ := strings.Cut(v, ":")
	return helseid.Organization{Parent: parent, Child: child}
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, strings.Fields(v)...); return nil }

// request is the token request of token and call: scopes, for org when given, and for the
// supplier's own organisation when a multi-tenant client names none.
func (cf *clientFlags) request(scopes []string, org string) helseid.ClientCredentialsRequest {
	req := helseid.ClientCredentialsRequest{Scopes: scopes}
	if org != "" {
		req.Organization = organization(org)
	} else if cf.multiTenant {
		req.Organization = helseid.SupplierOrganization()
	}
	return req
}
