# Nautilus build, test and run targets. Every target that needs a system package runs
# scripts/setup.sh first, so a fresh Debian machine needs nothing else.

GO          ?= go
BIN         := bin
PKG         := github.com/nautilus-mq/nautilus
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0-dev)
COMMIT      ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS     := -X $(PKG)/cmd/internal/buildinfo.Version=$(VERSION) -X $(PKG)/cmd/internal/buildinfo.Commit=$(COMMIT)
STATICCHECK_VERSION := v0.7.0
STATICCHECK := $(BIN)/staticcheck
# Packages whose concurrency `go test -race` checks on every `make test`.
RACE_PKGS   := ./broker/... ./store/... ./plumtree/... ./swc/...
FUZZTIME    ?= 20s
CONF        ?=

.PHONY: all setup build build-swc test test-go test-swc test-race lint vet staticcheck fuzz bench bench-go run clean

all: build

setup:
	@bash scripts/setup.sh

build: setup
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/nautilus ./cmd/nautilus

build-swc: setup
	$(GO) build -tags swc -ldflags '$(LDFLAGS)' -o $(BIN)/nautilus-swc ./cmd/nautilus

test: setup lint test-go test-swc test-race

test-go:
	$(GO) test ./...

test-swc:
	$(GO) test -tags swc ./...

test-race:
	$(GO) test -race $(RACE_PKGS)

lint: setup vet staticcheck

vet:
	$(GO) vet ./...
	$(GO) vet -tags swc ./...

$(STATICCHECK):
	GOBIN=$(abspath $(BIN)) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags swc ./...

fuzz: setup
	@bash scripts/fuzz.sh $(FUZZTIME)

# bench is the quick whole-system comparison (a few minutes): nautilus-bench compare runs every
# MQTT scenario against bin/nautilus and Debian's mosquitto, interleaved over BENCH_ROUNDS
# rounds; nautilus-bench replication runs Plumtree and SWC on identical work in the simulator
# and on 3- and 5-node real clusters (BENCH_REPLICATION_FLAGS=--large for the 100k/1M sizes);
# nautilus-bench cluster measures cross-node publishing on 2 nautilus processes against 1.
# Together they rewrite docs/benchmarks.md (keeping its notes section) and docs/img/*.png.
# Only the ratios of one run mean anything on a shared machine. The Go testing.B benchmarks
# are bench-go.
BENCH_ROUNDS   ?= 3
BENCH_DURATION ?= 2s
BENCH_REPLICATION_FLAGS ?=
bench: build
	$(GO) build -o $(BIN)/nautilus-bench ./cmd/nautilus-bench
	$(BIN)/nautilus-bench compare --nautilus $(BIN)/nautilus --rounds $(BENCH_ROUNDS) --duration $(BENCH_DURATION) \
		--json $(BIN)/bench.jsonl --plot docs/img --doc docs/benchmarks.md
	$(BIN)/nautilus-bench cluster --nautilus $(BIN)/nautilus --duration $(BENCH_DURATION) \
		--json $(BIN)/bench.jsonl --doc docs/benchmarks.md
	$(BIN)/nautilus-bench replication $(BENCH_REPLICATION_FLAGS) \
		--json $(BIN)/bench-replication.jsonl --plot docs/img --doc docs/benchmarks.md

bench-go: setup
	$(GO) test -run '^$$' -bench . -benchmem ./...

# run starts one node in the foreground with the embedded defaults (data under ./data, MQTT on
# 127.0.0.1:1883), anonymous access on and the ACL plugin off, so that any local client may
# publish and subscribe for the quick start. Pass CONF=path to run with a file instead.
run: build
ifeq ($(CONF),)
	NAUTILUS__PLUGINS__VMQ_ACL=off $(BIN)/nautilus start --allow-anonymous
else
	$(BIN)/nautilus start --config $(CONF)
endif

clean:
	rm -rf $(BIN)
	$(GO) clean -testcache
