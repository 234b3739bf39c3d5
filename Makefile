# imslab — two commands do all set-up on a fresh Debian machine:
#   make demo    the whole lab: HSS, S-CSCF, P-CSCF, EPC as processes; phones attach, register and call (SRTP), step by step
#   make test    the whole suite: vet, staticcheck, unit tests, short fuzz runs, integration tests
#   make bench   SRTP cost per packet, then how many simultaneous SRTP calls the lab carries here (~10 min)
# Both install the Debian packages they need (only when missing) and staticcheck.

SHELL       := /bin/bash
GO          ?= go
GOBIN       := $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOBIN)/staticcheck
STATICCHECK_VERSION := v0.7.0
# Debian packages: cgo toolchain for PC/SC, pcscd with the vpcd virtual reader, pcsc-tools (pcsc_scan),
# tshark (the captures' decoding test), util-linux (unshare, for a private pcscd), baresip and twinkle-console (SIP softphone peers: Digest, AKAv1-MD5).
DEB_PKGS    := gcc pkg-config libpcsclite-dev pcscd vsmartcard-vpcd pcsc-tools tshark util-linux baresip twinkle-console
FUZZTIME    ?= 5s
BIN         := bin/imslab

.PHONY: all build deps test vet staticcheck unit fuzz demo bench clean

all: build

build: deps
	$(GO) build -o $(BIN) ./cmd/imslab

# Install the Debian packages that are missing (as root, without questions).
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing — run: sudo apt-get install -y$$missing" >&2; exit 1; fi; \
	  echo "installing Debian packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections; \
	  apt-get update -qq </dev/null && apt-get install -y -qq --no-install-recommends $$missing </dev/null; \
	fi

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

test: deps vet staticcheck unit fuzz
	@echo "make test: all passed"

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

# Unit and integration tests (the integration tests start their own pcscd and
# vpcd; with CI set, a missing peer fails instead of skipping).
unit:
	$(GO) test -race -count=1 -timeout 10m ./...

# A short run of every fuzz target (the seed corpus already runs in `unit`).
fuzz:
	FUZZTIME=$(FUZZTIME) ./.ci/fuzz

demo: build
	./$(BIN) demo

# SRTP per packet: pion/srtp against the raw AES-CM + HMAC-SHA1 floor (Go benchmarks); then
# `imslab load calls`: the ramp of simultaneous SRTP calls, with the same SRTP figures.
bench: build
	$(GO) test -run XXX -bench . -benchtime 2s ./internal/media
	./$(BIN) load calls

clean:
	rm -rf bin
