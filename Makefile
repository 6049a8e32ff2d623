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

.PHONY: all setup build build-swc test test-go test-swc test-race lint vet staticcheck fuzz bench run clean

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

bench: setup
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
