# sonolink — see README.md. `make run` and `make test` are the contract.
GO ?= go
PKGS_RACE := ./dimse/... ./store/... ./pipeline/... ./share/... ./delivery/... ./web/... ./admin/... ./console/...

.PHONY: run build deps test test-short test-race fuzz bench bench-deps lint clean

# The version `sonolink version` reports; without git (a source tarball) the
# binary falls back to what the go command recorded, else "dev".
VERSION ?= $(shell git describe --always --dirty 2>/dev/null)
LDFLAGS := $(if $(VERSION),-X sonolink/internal/buildinfo.version=$(VERSION))

build: deps
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/sonolink ./cmd/sonolink

# The C libraries the JPEG 2000/HTJ2K and JPEG-LS decoders link through cgo
# (OpenJPEG and CharLS, with a C compiler and pkg-config). Installed with
# apt-get when missing and run as root on Debian; otherwise the command to
# run is printed. CGO_ENABLED=0 skips them: such a build keeps JPEG 2000 and
# JPEG-LS objects as received (residual), undecoded.
DEPS_PKGS := gcc libc6-dev pkg-config libopenjp2-7-dev libcharls-dev
deps:
	@if [ "$(CGO_ENABLED)" = 0 ]; then exit 0; fi; \
	if command -v gcc >/dev/null 2>&1 && command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libopenjp2 charls; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing the JPEG 2000 and JPEG-LS libraries: $(DEPS_PKGS)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $(DEPS_PKGS); \
	else \
	  echo "sonolink decodes JPEG 2000 and JPEG-LS with OpenJPEG and CharLS; install them first:"; \
	  echo "  sudo apt-get install $(DEPS_PKGS)"; \
	  echo "or build without them (such objects are then kept undecoded): CGO_ENABLED=0 make build"; \
	  exit 1; \
	fi

run: build
	./bin/sonolink serve

# The whole suite: vet, unit + integration tests (with DCMTK, Chromium, a
# real SMTP server), the race detector on the concurrent packages, and short
# fuzz runs.
test: deps lint
	$(GO) test -count=1 -timeout 15m ./...
	$(MAKE) test-race
	$(MAKE) fuzz FUZZTIME=10s

# The edit loop: unit and package tests without the browser scenarios, the
# end-to-end scenarios and the long runs of peer tools, which skip under
# -short (testenv.Long). Under two minutes on two cores; results are cached
# like any go test run.
test-short:
	$(GO) test -short -timeout 5m ./...

# The race detector on the concurrent packages.
test-race:
	$(GO) test -count=1 -race -timeout 15m $(PKGS_RACE)

# Every fuzz target of every package, FUZZTIME each. Go 1.26's fuzz
# coordinator can end a run with a bare "context deadline exceeded" at the
# FUZZTIME boundary (go.dev/issue/75804, fixed in Go 1.27): such a run wrote
# no failing input, so it counts once the target's corpus replays clean.
#
# Go minimizes each new interesting input for up to 60 s by default, and a
# target runs no new inputs meanwhile: FuzzCheck sat at 0 execs/s for most
# of its runs, minimizing inputs near its 1 MiB inflate limit. FUZZMINIMIZE
# caps it (a failing input is still written, less minimized).
FUZZTIME ?= 30s
FUZZMINIMIZE ?= 5s
fuzz:
	@set -e; out=$$(mktemp); trap 'rm -f $$out' EXIT; \
	for pkgfz in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for fz in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$pkgfz/*_test.go | sed 's/func //'); do \
	    echo "fuzz $$pkgfz $$fz"; \
	    if ! $(GO) test -run='^$$' -fuzz="^$$fz$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZE) $$pkgfz >$$out 2>&1; then \
	      cat $$out; \
	      if grep -q 'Failing input written' $$out || ! grep -q 'context deadline exceeded' $$out; then exit 1; fi; \
	      echo "fuzz $$fz: coordinator deadline race, no failing input; replaying the corpus"; \
	      $(GO) test -count=1 -run="^$$fz$$" $$pkgfz; \
	    fi; \
	  done; done

# Peers the benchmarks compare against (Debian packages).
bench-deps:
	apt-get install -y --no-install-recommends dcmtk dicom3tools libgdcm-tools chromium ffmpeg orthanc wrk

bench:
	$(GO) test -run='^$$' -bench=. -benchtime=1x -timeout 60m ./bench/...

# staticcheck, pinned; installed into bin/ on first use.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := bin/staticcheck-$(STATICCHECK_VERSION)

$(STATICCHECK):
	GOBIN=$(CURDIR)/bin/.staticcheck $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv bin/.staticcheck/staticcheck $@ && rmdir bin/.staticcheck

lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

clean:
	rm -rf bin
