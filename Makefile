# Gatehouse — the two commands a new user needs: `make run` and `make test`.
GO ?= go
DEMO_PASSWORD ?= demo-password
DATA ?= ./data
ADDR ?= 127.0.0.1:8080

.PHONY: build run test test-short vet bench fuzz clean

build:
	$(GO) build -o bin/gatehouse ./cmd/gatehouse

# Builds, loads demo data on the first run, serves, and connects simulated
# devices for the demo's devices (SIM_DEVICES of them; 0 for none) so that
# reboot, reset, Remote Control and AutoP work on them.
SIM_DEVICES ?= 500
run: build
	./bin/gatehouse demo --data $(DATA) --password $(DEMO_PASSWORD) --if-empty
	@echo
	@echo "Open http://$(ADDR)/ and log in as demo-subdistributor (or demo-admin, demo-distributor,"
	@echo "demo-installer) with the password '$(DEMO_PASSWORD)'. Stop with Ctrl-C."
	@echo
	@if [ "$(SIM_DEVICES)" = "0" ]; then exec ./bin/gatehouse serve --data $(DATA) --addr $(ADDR); fi; \
	./bin/gatehouse serve --data $(DATA) --addr $(ADDR) & serve=$$!; \
	trap 'kill $$serve 2>/dev/null; wait $$serve' EXIT INT TERM; \
	sleep 2; ./bin/gatehouse devicesim --server http://$(ADDR) --data $(DATA) --count $(SIM_DEVICES) \
	  --state $(DATA)/devicesim --report 1m

# Every test on SQLite and PostgreSQL, HTTP and API tests, headless Chromium,
# stripe-mock and the PDF invoices. scripts/test.sh starts a throw-away PostgreSQL
# (unless GATEHOUSE_TEST_POSTGRES is set), finds stripe-mock and Chromium, and ends
# with a summary naming every skipped test and why; with CI=true a skip fails.
test: vet
	GO="$(GO)" scripts/test.sh

test-short:
	$(GO) test -short ./...

vet:
	$(GO) vet ./...

# Every Go fuzz target (func FuzzXxx) for FUZZTIME each, one after another.
# `make test` already runs their seed corpora (testdata/fuzz and f.Add).
FUZZTIME ?= 30s
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
