# Gatehouse — the two commands a new user needs: `make run` and `make test`.
GO ?= go
DEMO_PASSWORD ?= demo-password
DATA ?= ./data
ADDR ?= 127.0.0.1:8080

.PHONY: build run test test-short vet bench clean

build:
	$(GO) build -o bin/gatehouse ./cmd/gatehouse

# Builds, loads demo data into an empty database on the first run, serves.
run: build
	./bin/gatehouse demo --data $(DATA) --password $(DEMO_PASSWORD) --if-empty
	@echo
	@echo "Open http://$(ADDR)/ and log in as demo-subdistributor (or demo-admin, demo-distributor,"
	@echo "demo-installer) with the password '$(DEMO_PASSWORD)'. Stop with Ctrl-C."
	@echo
	./bin/gatehouse serve --data $(DATA) --addr $(ADDR)

# Every test: store suite on SQLite and (with GATEHOUSE_TEST_POSTGRES) PostgreSQL,
# HTTP and API tests, and the headless Chromium browser test.
test: vet
	$(GO) test -count=1 -timeout 20m ./...

test-short:
	$(GO) test -short ./...

vet:
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
