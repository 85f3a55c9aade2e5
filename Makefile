# orderflow: the commands the README promises. Go 1.26 is all they need;
# .ci/run installs the rest (PostgreSQL, kcat, Java for Kafka) itself.

MODULES := shared functions/order functions/inventory functions/payment functions/notify functions/analytics local tools
PKGS    := $(addsuffix /...,$(addprefix ./,$(MODULES)))
ORDERS  ?= 1000

.PHONY: demo up build test vet unit e2e tidy

## demo: the main job: the whole saga on the embedded broker, $(ORDERS) orders, invariants checked
demo: build
	bin/orderflow demo --orders $(ORDERS)

## up: start the topology and keep it running (Ctrl-C stops it)
up: build
	bin/orderflow up

build:
	go build -o bin/orderflow ./local/cmd/orderflow

## test: vet, unit and end-to-end tests on the embedded broker and SQLite
test: vet
	go test -count=1 -timeout 20m $(PKGS)

vet:
	@test -z "$$(gofmt -l $(MODULES))" || { echo "gofmt needed:"; gofmt -l $(MODULES); exit 1; }
	go vet $(PKGS)

unit:
	go test -count=1 $(filter-out ./local/...,$(PKGS)) $(shell go list ./local/... | grep -v /e2e)

e2e:
	go test -count=1 -v -timeout 20m ./local/e2e/

## tidy: tidy each function's go.mod the way a func build resolves it
tidy:
	scripts/tidy-functions.sh
