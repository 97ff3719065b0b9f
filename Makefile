# rumd: build, run and test. `make run` serves rumd with its embedded defaults; `make test`
# runs every test, browser and load tests included.
GO ?= go
BIN := bin/rumd
PKGS := ./...

# The build names itself: version from `git describe`, the commit, and the commit's time as
# the build date (not the clock's, so two builds of one commit are byte for byte the same).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo unknown)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
LDFLAGS := -X rumd/internal/buildinfo.version=$(VERSION) -X rumd/internal/buildinfo.commit=$(COMMIT) -X rumd/internal/buildinfo.date=$(BUILD_DATE)

.PHONY: build run test test-unit test-integration test-fuzz bench deps generate fuzz clean dist dist-check

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/rumd

# dist builds release archives for linux and darwin on amd64 and arm64 into dist/, with
# SHA256SUMS. They are reproducible: static (CGO_ENABLED=0), -trimpath, no build id, and a
# tar of sorted names owned by root, modes without the umask, every mtime at the commit's time, gzip without a
# name or time. `make dist-check` builds twice and compares the sums.
DIST_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64

dist:
	@rm -rf dist && mkdir -p dist
	@set -e; for p in $(DIST_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; name=rumd-$(VERSION)-$$os-$$arch; \
		mkdir -p dist/$$name; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -buildvcs=false \
			-ldflags "-buildid= -s -w $(LDFLAGS)" -o dist/$$name/rumd ./cmd/rumd; \
		cp README.md rumd.example.yaml dist/$$name/; \
		mkdir -p dist/$$name/deploy && cp docs/deploy.md docs/deploy/* dist/$$name/deploy/; \
		tar --sort=name --owner=0 --group=0 --numeric-owner --mode=u+rwX,go+rX,go-w --mtime=@$(SOURCE_DATE_EPOCH) \
			--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
			-C dist -cf - $$name | gzip -9n > dist/$$name.tar.gz; \
		rm -rf dist/$$name; \
		echo "dist/$$name.tar.gz"; \
	done
	@cd dist && sha256sum *.tar.gz > SHA256SUMS && cat SHA256SUMS

# The second build uses an empty build cache of its own (not `go clean -cache`, which would
# empty everyone's), so nothing the first build left is reused.
dist-check:
	@mkdir -p bin && $(MAKE) --no-print-directory dist >/dev/null && cp dist/SHA256SUMS bin/SHA256SUMS.first
	@cache=$$(mktemp -d) && GOCACHE=$$cache $(MAKE) --no-print-directory dist >/dev/null; rc=$$?; rm -rf $$cache; exit $$rc
	@if cmp -s bin/SHA256SUMS.first dist/SHA256SUMS; then echo "dist-check: two builds gave the same archives:"; cat dist/SHA256SUMS; \
	else echo "dist-check: the archives differ between two builds:"; diff bin/SHA256SUMS.first dist/SHA256SUMS; exit 1; fi

# run installs the pinned country database (geoip/, CC0) when it is missing, so countries
# work out of the box; rumd finds it in its default location (docs/geoip.md).
run: build
	@test -f geoip/node_modules/@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb || \
		(cd geoip && npm ci --no-audit --no-fund --silent) || \
		echo "make run: could not install the GeoIP database (npm ci in geoip/); every country will be XX"
	./$(BIN) serve

# deps installs what the tests need beyond Go modules: Debian's Chromium, Firefox ESR and
# WebKitGTK driver (with Xvfb) for the browser tests, Prometheus for the scale-out tests, pebble (a
# test ACME server) for the automatic-certificate test, and the pinned npm packages: the
# snippet's (web-vitals) and the home page's (uPlot) for their build checks, the country
# database (geoip/) its test opens, boomerang for the boomerang browser test, and
# puppeteer-core for driving Firefox.
deps:
	@command -v chromium >/dev/null 2>&1 || { \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; }
	@{ command -v firefox-esr && command -v WebKitWebDriver && command -v Xvfb && command -v prometheus && command -v pebble; } >/dev/null 2>&1 || { \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq firefox-esr webkit2gtk-driver xvfb prometheus pebble) >/dev/null; }
	@for d in beacon-js beacon-js/firefox home geoip ingest/boomerang/testdata/browser; do \
		if [ -f $$d/package-lock.json ]; then (cd $$d && npm ci --no-audit --no-fund --silent) || exit 1; fi; \
	done
	$(GO) mod download

test: deps test-unit test-fuzz test-integration

test-unit:
	$(GO) vet $(PKGS)
	$(GO) test -count=1 $(PKGS)
	@# A build with one more metric and two more dimensions must read stored data unchanged
	@# and cap every dimension (docs/on-disk-format.md).
	$(GO) test -count=1 -short -tags rumd_extra ./internal/series ./storage
	$(GO) test -count=1 -tags rumd_extra -run Caps ./aggregator

test-integration: build
	$(GO) test -count=1 -tags integration -timeout 30m $(PKGS)

# Every `func Fuzz...` target of the tree, each run on its own for FUZZTIME. `make test` runs
# them briefly (a crash found becomes a checked-in regression input under testdata/fuzz);
# `make fuzz` runs them longer. Go 1.26's fuzz coordinator can end a run at its -fuzztime with
# "context deadline exceeded" and no failing input (golang/go#75804, fixed in Go 1.27): a
# target that fails without writing a new input under testdata/fuzz is run once more, and
# fails the build if that run fails too. A written failing input always fails it.
FUZZTIME ?= 60s
test-fuzz:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=4s

fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' --exclude-dir=node_modules '^func Fuzz' .); do \
		d=./$$(dirname $$f); \
		for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "fuzz $$d $$fn for $(FUZZTIME)"; \
			before=$$(ls $$d/testdata/fuzz/$$fn 2>/dev/null | wc -l); \
			if ! $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$d; then \
				after=$$(ls $$d/testdata/fuzz/$$fn 2>/dev/null | wc -l); \
				if [ "$$after" != "$$before" ]; then echo "fuzz $$d $$fn: failing input written under $$d/testdata/fuzz/$$fn"; exit 1; fi; \
				echo "fuzz $$d $$fn: stopped at its deadline without a failing input; running it once more"; \
				$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$d; \
			fi; \
		done; \
	done

generate:
	$(GO) generate ./...

# bench runs the hot path's micro-benchmarks (BENCH_COUNT runs each, raw output in
# bin/bench.txt), then, for each beacon format (v1 and boomerang), loads a fresh rumd and a
# bare 204 handler for LOAD_DURATION each with `rumd loadtest --baseline`, LOAD_RUNS times at
# each of LOAD_CONNECTIONS, prints each run against the budgets of docs/design.md §7 and
# ends with the medians the ratio budget is judged on (the loads take about 8 minutes).
LOAD_CONNECTIONS ?= 16,64
LOAD_RUNS ?= 3

bench: build
	@echo "micro-benchmarks: $(GO) test -run '^$$' -bench . -benchmem -count $(or $(BENCH_COUNT),5) $(PKGS)"
	@$(GO) test -run '^$$' -bench . -benchmem -count $(or $(BENCH_COUNT),5) $(PKGS) > bin/bench.txt || { cat bin/bench.txt; exit 1; }
	$(GO) run ./loadtest/benchreport -bench bin/bench.txt -rumd $(BIN) -duration $(or $(LOAD_DURATION),10s) \
		-connections $(LOAD_CONNECTIONS) -runs $(LOAD_RUNS)

clean:
	rm -rf bin data dist
