# referrald — `make run` to start it, `make test` to check it.

GO          ?= go
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME    ?= 20s

.PHONY: build run test lint fuzz clean

## build: compile bin/referrald with its version stamped in
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/referrald .

## run: build, create an admin key on first run (token printed once), serve on ./data
run: build
	@if [ ! -f data/referrald.db ] && [ -z "$$REFERRALD_ADMIN_TOKEN" ]; then \
		echo "First run: creating an admin API key. Its token is printed once; keep it:"; \
		./bin/referrald keys create --scope admin --name make-run; \
		echo; \
	fi
	./bin/referrald serve

## test: lint, then every test with the race detector
test: lint
	$(GO) test -race -count=1 ./...

## lint: go vet, gofmt and staticcheck (fetched from the module proxy on first use)
lint:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...

## fuzz: run each fuzz target for FUZZTIME (make fuzz FUZZTIME=10m for a long run)
fuzz:
	$(GO) test ./api -run '^$$' -fuzz '^FuzzReferralCreateDecode$$' -fuzztime $(FUZZTIME)

clean:
	rm -rf bin
