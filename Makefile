# referrald — `make run` to start it, `make test` to check it.

GO          ?= go
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME    ?= 20s
# CONFIG, when set, is the settings file `make run` passes with -config.
CONFIG      ?=
RUN_FLAGS   := $(if $(CONFIG),-config $(CONFIG))

PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.0

.PHONY: build plugins image run test test-deps lint fuzz bench proto proto-tools clean

## build: compile bin/referrald with its version stamped in
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/referrald .

## plugins: compile the example hook plugins into bin/plugins
plugins:
	$(GO) build -trimpath -o bin/plugins/ ./plugins/...

## image: build the container image referrald:VERSION (and :latest) with podman, buildah or docker (IMAGE=name:tag for another)
# deploy/stage-image.sh builds the static binaries on this machine;
# docs/operations.md, "Running in a container", says how to run it.
image:
	VERSION=$(VERSION) deploy/build-image.sh

## run: build, create the store and an admin key on first run (token printed once), serve (make run CONFIG=file.yaml)
# A first run is one whose data_dir (./data, or CONFIG's) has no store yet,
# which `keys list` refuses.
run: build
	@if [ -z "$$REFERRALD_ADMIN_TOKEN" ] && ! ./bin/referrald keys list $(RUN_FLAGS) >/dev/null 2>&1; then \
		echo "First run: creating the store and an admin API key. Its token is printed once; keep it:"; \
		./bin/referrald keys create $(RUN_FLAGS) -create-store --scope admin --name make-run || exit 1; \
		echo; \
	fi
	./bin/referrald serve $(RUN_FLAGS)

## test: lint, then every test with the race detector
test: lint test-deps
	$(GO) test -race -count=1 ./...

## test-deps: what the tests run besides Go (the walk-through needs curl, the browser tests Chromium, deploy/ promtool, the image podman and runc, the posters poppler's pdftoppm and pdftotext), from Debian when missing
# promtool is taken out of Debian's prometheus package rather than
# installed with it: the package is the Prometheus server, and installing
# it adds a user and, where systemd runs, starts a server on :9090.
test-deps:
	@command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }
	@command -v promtool >/dev/null || { apt-get update -qq && d=$$(mktemp -d) && \
		(cd "$$d" && apt-get download -qq -o APT::Sandbox::User=root prometheus) && \
		dpkg-deb --fsys-tarfile "$$d"/prometheus_*.deb | tar -x -C "$$d" ./usr/bin/promtool && \
		install -m 755 "$$d/usr/bin/promtool" /usr/local/bin/promtool; rc=$$?; rm -rf "$$d"; exit $$rc; }
	@{ command -v podman && command -v runc; } >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends podman runc; }
	@command -v pdftoppm >/dev/null || { apt-get update -qq && apt-get install -y -qq poppler-utils; }

## lint: go vet, gofmt and staticcheck (fetched from the module proxy on first use)
lint:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...

FUZZ_TARGETS := ./api:FuzzReferralCreateDecode ./api:FuzzListQuery ./api:FuzzIdempotencyKeyHeader \
	./model:FuzzParseID ./store:FuzzDecodeRecords ./poster:FuzzNormalizeLogo

## fuzz: run each fuzz target for FUZZTIME (make fuzz FUZZTIME=10m for a long run)
# Go 1.26's fuzz coordinator can fail a target at the end of -fuzztime with
# a bare "context deadline exceeded" and no failing input (go.dev/issue/75804,
# fixed in Go 1.27): the time was fuzzed and nothing found, so that alone is
# reported and passed. Any other failure, and any failing input, fails.
fuzz:
	@log=$$(mktemp); trap 'rm -f "$$log" "$$log.rc"' EXIT; \
	for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} for $(FUZZTIME)"; \
		{ $(GO) test $${t%%:*} -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) 2>&1; echo $$? >"$$log.rc"; } | tee "$$log"; \
		[ "$$(cat "$$log.rc")" = 0 ] && continue; \
		if grep -qx '    context deadline exceeded' "$$log" && ! grep -q 'Failing input written' "$$log"; then \
			echo "fuzz $${t#*:}: stopped by go.dev/issue/75804 at the end of its time, no failing input: passed"; \
		else exit 1; fi; \
	done

## bench: build cmd/referrald-bench, load POST /v1/referrals on a temporary durable store (BENCH_ARGS="-clients 16 -json")
bench:
	$(GO) build -trimpath -o bin/referrald-bench ./cmd/referrald-bench
	./bin/referrald-bench $(BENCH_ARGS)

## proto: regenerate the hook contract's Go code after editing hooks.proto
proto:
	cd hooks/internal/hookspb && protoc --proto_path=. \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative hooks.proto

## proto-tools: install protoc (Debian) and the pinned Go code generators
proto-tools:
	command -v protoc >/dev/null || (apt-get update && apt-get install -y protobuf-compiler)
	$(GO) install $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC)

clean:
	rm -rf bin
