# Everyday commands. `make test` is the README's test command; `make ci` is what CI runs.
GO ?= go
BENCHTIME ?= 2s

.PHONY: run test lint bench build load ci

run:
	$(GO) run ./cmd/gatehouse

test:
	$(GO) test -count=1 ./...

lint:
	gofmt -l $$(git ls-files '*.go') | (! grep .)
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/gatehouse ./cmd/gatehouse
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/gatehouse-load ./cmd/gatehouse-load

load: build
	./bin/gatehouse-load -server ./bin/gatehouse -workload health -c 64 -d 10s

ci:
	bash .ci/run
