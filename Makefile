# The README's test command is `make test`; .ci/run calls exactly that.
GO       ?= go
FUZZTIME ?= 8s
BENCHCOUNT ?= 6
BENCHSTAT ?= $(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

# Every fuzz target as package:Target. A short run of each is part of `make test`; run one
# longer with e.g. `make fuzz FUZZTIME=5m`.
FUZZ_TARGETS := \
	./dpop:FuzzParseChallenges \
	./dpop:FuzzVerifyProof \
	./helseid:FuzzAccessTokenClaims \
	./helseid:FuzzParseCallback \
	./helseid:FuzzParseJWK \
	./internal/discovery:FuzzParse \
	./internal/jose:FuzzAppendJSONString \
	./internal/jwks:FuzzParseSet \
	./internal/tokenendpoint:FuzzParseError \
	./internal/tokenendpoint:FuzzParseResponse \
	./tokenexchange:FuzzJWTExpiry

.PHONY: test fmt-check vet unit fuzz bench

test: fmt-check vet unit fuzz

fmt-check:
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './node_modules/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

# Benchmarks compare each hot path with its baseline in the same run; see BENCHMARKS.md.
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=$(BENCHCOUNT) ./dpop/ ./internal/clientauth/ ./internal/tokencache/ ./tokenexchange/ ./resource/ > bench.txt
	$(BENCHSTAT) -filter '.name:(ProofES256 OR Assertion)' -col '/impl@(bare-signasn1 proofer builder builder-with-details jwx-jwt-sign)' bench.txt
	$(BENCHSTAT) -filter '.name:(Hit OR TransportRoundTrip)' -col '/impl@(oauth2-reuse tokencache bare transport)' bench.txt
	$(BENCHSTAT) -filter '.name:Tenants' bench.txt
	$(BENCHSTAT) -filter '.name:VerifyES256' -col '/impl@(bare-verifyasn1 verifier)' bench.txt
	$(BENCHSTAT) -filter '.name:ReplayStore' -col '/impl@(one-mutex sharded)' bench.txt
	$(BENCHSTAT) -filter '.name:CacheHit' -col '/impl@(bare-sha256 tokenexchange tokencache)' bench.txt
	$(BENCHSTAT) -filter '.name:SessionHit' -col '/impl@(oauth2-reuse session)' bench.txt
	$(BENCHSTAT) -filter '-.name:(ProofES256 OR Assertion OR Hit OR TransportRoundTrip OR Tenants OR VerifyES256 OR ReplayStore OR CacheHit OR SessionHit)' bench.txt
