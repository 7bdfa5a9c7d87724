# Gatehouse — the two commands a new user needs: `make run` and `make test`.
GO ?= go
DEMO_PASSWORD ?= demo-password
# The data directory and listen address of `make run`: DATA=… / ADDR=… on the
# command line, else GATEHOUSE_DATA / GATEHOUSE_ADDR from the environment.
DATA ?= $(or $(GATEHOUSE_DATA),./data)
ADDR ?= $(or $(GATEHOUSE_ADDR),127.0.0.1:8080)

.PHONY: build run test test-short vet bench fuzz faults clean

build:
	$(GO) build -o bin/gatehouse ./cmd/gatehouse

# Builds, loads demo data on the first run, serves, and once it serves connects
# simulated devices for the demo's devices (SIM_DEVICES of them; 0 for none) so
# that reboot, reset, Remote Control and AutoP work on them. When serve stops
# (port taken, Ctrl-C), the simulator stops too (scripts/run.sh).
# PAYMENTS=sandbox also runs the payment sandbox (`gatehouse sandbox`: the in-repo
# PayPal fake and, when installed, stripe-mock) and points serve at it.
SIM_DEVICES ?= 500
PAYMENTS ?=
SANDBOX_ADDR ?= 127.0.0.1:8070
run: build
	ADDR="$(ADDR)" DATA="$(DATA)" DEMO_PASSWORD="$(DEMO_PASSWORD)" SIM_DEVICES="$(SIM_DEVICES)" \
	  PAYMENTS="$(PAYMENTS)" SANDBOX_ADDR="$(SANDBOX_ADDR)" scripts/run.sh

# Every test on SQLite and PostgreSQL, HTTP and API tests, headless Chromium,
# stripe-mock and the PDF invoices. scripts/test.sh starts a throw-away PostgreSQL
# (unless GATEHOUSE_TEST_POSTGRES is set), finds stripe-mock and Chromium, and ends
# with a summary naming every skipped test and why; with CI=true a skip fails.
test: vet
	GO="$(GO)" scripts/test.sh

# The fault suite at full size (internal/faults, README "What survives what"):
# real gatehouse nodes, simulator, PostgreSQL and NATS, broken on purpose and
# checked afterwards; about 10 minutes. `make test` runs its short subset.
# FAULTS_REPORT=FILE collects the measured figures.
FAULTS_REPORT ?=
faults:
	GATEHOUSE_FAULTS=full GATEHOUSE_FAULTS_REPORT="$(FAULTS_REPORT)" GO="$(GO)" scripts/test.sh -timeout 20m ./internal/faults/

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
