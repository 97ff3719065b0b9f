# rumd: build, run and test. `make run` serves rumd with its embedded defaults; `make test`
# runs every test, browser and load tests included.
GO ?= go
BIN := bin/rumd
PKGS := ./...

.PHONY: build run test test-unit test-integration test-fuzz bench deps generate fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/rumd

# run installs the pinned country database (geoip/, CC0) when it is missing, so countries
# work out of the box; rumd finds it in its default location (docs/geoip.md).
run: build
	@test -f geoip/node_modules/@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb || \
		(cd geoip && npm ci --no-audit --no-fund --silent) || \
		echo "make run: could not install the GeoIP database (npm ci in geoip/); every country will be XX"
	./$(BIN) serve

# deps installs what the tests need beyond Go modules: Debian's Chromium, Firefox ESR and
# WebKitGTK driver (with Xvfb) for the browser tests, Prometheus for the scale-out tests, and the pinned npm packages: the
# snippet's (web-vitals) and the home page's (uPlot) for their build checks, the country
# database (geoip/) its test opens, boomerang for the boomerang browser test, and
# puppeteer-core for driving Firefox.
deps:
	@command -v chromium >/dev/null 2>&1 || { \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; }
	@{ command -v firefox-esr && command -v WebKitWebDriver && command -v Xvfb && command -v prometheus; } >/dev/null 2>&1 || { \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq firefox-esr webkit2gtk-driver xvfb prometheus) >/dev/null; }
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
	rm -rf bin data
