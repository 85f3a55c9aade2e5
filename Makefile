# orderflow: the commands the README promises. Go 1.26 is all `demo`, `up` and
# `test-embedded` need; `test` also runs everything on Apache Kafka and
# PostgreSQL (scripts/test-real.sh: Java 17, Maven, postgresql, kcat), which
# .ci/run installs itself.

MODULES := shared functions/order functions/inventory functions/payment functions/notify functions/analytics local tools deploy/validate
PKGS    := $(addsuffix /...,$(addprefix ./,$(MODULES)))
ORDERS  ?= 1000

.PHONY: demo up build test test-prereqs test-embedded test-deploy test-real test-replication vet unit e2e tidy tidy-check func-build tools

## demo: the main job: the whole saga on the embedded broker, $(ORDERS) orders, invariants checked
demo: build
	bin/orderflow demo --orders $(ORDERS)

## up: start the topology and keep it running (Ctrl-C stops it)
up: build
	bin/orderflow up

build:
	go build -o bin/orderflow ./local/cmd/orderflow
	go build -o bin/orderflow-fn ./local/cmd/orderflow-fn

## test: every module tidy, vet and every test, then the end-to-end suite twice:
## embedded broker + SQLite, and Apache Kafka + PostgreSQL (plus the
## replication and kcat tests)
test: test-prereqs tidy-check test-embedded test-deploy test-real

## test-prereqs: what the real half needs is here (it stops at once, naming what is missing)
test-prereqs:
	scripts/test-real.sh check

## test-embedded: vet, unit tests, end-to-end suite on the embedded broker and SQLite (Go only)
test-embedded: vet unit e2e

## test-deploy: what a cluster would run, proven without one: the manifests
## (rendered by kustomize, validated by the Knative types) are checked by
## the unit tests of deploy/validate; here every function is built by the
## real func CLI (func build --builder=host) and each binary served
test-deploy: func-build

func-build:
	scripts/func-build.sh

## test-real: store tests on PostgreSQL, end-to-end suite on Apache Kafka + PostgreSQL,
## replication test on a three-broker cluster (starts and stops them itself)
test-real:
	scripts/test-real.sh all

test-replication:
	scripts/test-real.sh replication

vet:
	@test -z "$$(gofmt -l $(MODULES))" || { echo "gofmt needed:"; gofmt -l $(MODULES); exit 1; }
	go vet $(PKGS)

unit:
	go test -count=1 -timeout 20m $(filter-out ./local/...,$(PKGS)) $$(go list ./local/... | grep -v '/local/e2e$$')

## tools: build Jaeger and Mailpit (tools/jaeger, tools/mailpit; cached) into bin/, for the tracing and e-mail tests
tools:
	scripts/tool.sh jaeger mailpit

e2e: tools
	@echo "== end-to-end suite, run 1 of 2: broker embedded kfake $$(cd local && go list -m -f '{{.Version}}' github.com/twmb/franz-go/pkg/kfake)," \
	  "store SQLite (modernc.org/sqlite $$(cd shared && go list -m -f '{{.Version}}' modernc.org/sqlite))"
	go test -count=1 -v -timeout 20m ./local/e2e/

## tidy: tidy every module the way it resolves outside the workspace (tidy-check: only check)
tidy:
	scripts/tidy.sh

tidy-check:
	scripts/tidy.sh --check
