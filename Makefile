# The README's test command is `make test`; .ci/run calls exactly that.
GO       ?= go
# A count, not a duration: with a duration Go's fuzz coordinator can report a bare "context
# deadline exceeded" failure at the deadline on a busy machine (golang/go#75804, before Go 1.27).
FUZZTIME ?= 20000x
BENCHCOUNT ?= 6
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHSTAT ?= $(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

# Every fuzz target as package:Target, or module=package:Target for a nested module's. A short run of each is part of `make test`; run one
# longer with e.g. `make fuzz FUZZTIME=5m`.
FUZZ_TARGETS := \
	./dpop:FuzzParseChallenges \
	./dpop:FuzzVerifyProof \
	./dpop:FuzzParseProofClaims \
	./helseid:FuzzAccessTokenClaims \
	./helseid:FuzzParseCallback \
	./helseid:FuzzParseJWK \
	./helseid/keystore:FuzzParseFile \
	./helseid/selfservice:FuzzParseAnswer \
	./internal/discovery:FuzzParse \
	./internal/jose:FuzzAppendJSONString \
	./internal/jose:FuzzEachMember \
	./internal/jose:FuzzDecodeObject \
	./internal/jose:FuzzParseCompact \
	./internal/jwks:FuzzParseSet \
	./helseid/fapi:FuzzParseError \
	./helseid/fapi:FuzzParseResponse \
	./internal/accesstoken:FuzzJWTExpiry \
	helseid/helseidredis=./internal/seal:FuzzOpen \
	helseid/helseidredis=.:FuzzDecodeSession

INTEROP_SERVER := internal/interop/testdata/server

# Nested Go modules (integrations that need more than the core's three dependencies). Each is
# vetted and tested by `make test` like the core.
NESTED_MODULES := helseid/helseidredis helseid/helseidotel

.PHONY: test fmt-check vet staticcheck unit unit-nested redis-check fuzz bench interop-deps interop

test: fmt-check vet staticcheck unit unit-nested fuzz

fmt-check:
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './node_modules/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi

vet:
	$(GO) vet ./...
	@set -e; for m in $(NESTED_MODULES); do echo "go vet ($$m)"; (cd $$m && $(GO) vet ./...); done

unit: interop-deps
	$(GO) test -race -count=1 ./...

# Static analysis with a pinned staticcheck and its default checks; it must report nothing.
staticcheck:
	$(STATICCHECK) ./...
	@set -e; for m in $(NESTED_MODULES); do echo "staticcheck ($$m)"; (cd $$m && $(STATICCHECK) ./...); done

# The nested modules' tests start real servers (redis-server on a free loopback port).
unit-nested: redis-check
	@set -e; for m in $(NESTED_MODULES); do echo "go test ($$m)"; (cd $$m && $(GO) test -race -count=1 ./...); done

redis-check:
	@command -v redis-server >/dev/null 2>&1 || { echo "make: redis-server is required for the tests of $(NESTED_MODULES) (Debian: apt-get install -y redis-server)"; exit 1; }

# The interop tests run the SDK against panva's oidc-provider (Node.js), pinned by
# $(INTEROP_SERVER)/package-lock.json. Without Node.js and npm the test command fails here.
interop-deps:
	@command -v node >/dev/null 2>&1 || { echo "make: Node.js is required for the interop tests (install Node.js 20 or later)"; exit 1; }
	@command -v npm >/dev/null 2>&1 || { echo "make: npm is required for the interop tests"; exit 1; }
	cd $(INTEROP_SERVER) && npm ci --no-audit --no-fund --loglevel=error

# The interop tests alone.
interop: interop-deps
	$(GO) test -race -count=1 -v ./internal/interop/...

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		mod=.; case $$t in *=*) mod=$${t%%=*}; t=$${t#*=};; esac; \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$mod $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -C $$mod -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

# Benchmarks compare each hot path with its baseline in the same run; see BENCHMARKS.md.
bench: redis-check
	$(GO) test -run='^$$' -bench=. -benchmem -count=$(BENCHCOUNT) ./dpop/ ./internal/clientauth/ ./internal/tokencache/ ./tokenexchange/ ./resource/ ./internal/jose/ ./helseid/ > bench.txt
	cd helseid/helseidredis && $(GO) test -run='^$$' -bench=. -benchmem -count=$(BENCHCOUNT) ./... >> ../../bench.txt
	$(BENCHSTAT) -filter '.name:(ProofES256 OR Assertion)' -col '/impl@(bare-signasn1 proofer builder builder-with-details jwx-jwt-sign)' bench.txt
	$(BENCHSTAT) -filter '.name:(Hit OR TransportRoundTrip)' -col '/impl@(oauth2-reuse tokencache bare transport)' bench.txt
	$(BENCHSTAT) -filter '.name:Tenants' bench.txt
	$(BENCHSTAT) -filter '.name:VerifyES256' -col '/impl@(bare-verifyasn1 verifier)' bench.txt
	$(BENCHSTAT) -filter '.name:ReplayStore' -col '/impl@(one-mutex sharded)' bench.txt
	$(BENCHSTAT) -filter '.name:CacheHit' -col '/impl@(bare-sha256 tokenexchange tokencache)' bench.txt
	$(BENCHSTAT) -filter '.name:SessionHit' -col '/impl@(oauth2-reuse session)' bench.txt
	$(BENCHSTAT) -filter '.name:VerifyProofReplay' -col '/impl@(memory redis setnx-round-trip store-alone)' bench.txt
	$(BENCHSTAT) -filter '.name:Guard' -col '/impl@(bare-rsa-ecdsa bare-ecdsa guard-first-seen guard)' bench.txt
	$(BENCHSTAT) -filter '.name:VerifyJWS' -col '/impl@(bare jose jwx)' bench.txt
	$(BENCHSTAT) -filter '.name:ClientToken' -col '/impl@(oauth2-reuse client-token client-token-org tokensource source)' bench.txt
	$(BENCHSTAT) -filter '.name:SessionToken' -col '/impl@(bare-roundtrip-open redis local)' bench.txt
	$(BENCHSTAT) -filter '-.name:(ProofES256 OR Assertion OR Hit OR TransportRoundTrip OR Tenants OR VerifyES256 OR ReplayStore OR CacheHit OR SessionHit OR VerifyProofReplay OR Guard OR VerifyJWS OR ClientToken OR SessionToken)' bench.txt
