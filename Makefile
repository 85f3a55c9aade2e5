# orderflow: the commands the README promises. Go 1.26 is all `demo` and `up`
# need; `test-embedded` also python3 with venv (jsoncompat, for the schema
# checker's cross-check); `test` also runs everything on Apache Kafka and
# PostgreSQL (scripts/test-real.sh), with the packages scripts/prereqs.sh
# checks and, as root, installs first.

# Every function folder (functions/*/func.yaml) is a module of its own.
FUNCTIONS := $(patsubst %/func.yaml,%,$(sort $(wildcard functions/*/func.yaml)))
MODULES := shared $(FUNCTIONS) knlocal local tools deploy/validate
PKGS    := $(addsuffix /...,$(addprefix ./,$(MODULES)))
ORDERS  ?= 1000

.PHONY: demo demo-real up build test test-prereqs test-embedded schemas-check test-deploy test-real test-replication test-knative vet unit e2e tidy tidy-check func-build func-build-all tools

## demo: the main job: the whole saga on the embedded broker, $(ORDERS) orders, invariants checked
demo: build
	bin/orderflow demo --orders $(ORDERS)

## demo-real: the production path: the same burst on Apache Kafka and a durable PostgreSQL
## (fsync and synchronous_commit on), machine CPU per order, invariants; stops what it starts
demo-real: build
	ORDERS=$(ORDERS) scripts/demo-real.sh

## up: start the topology and keep it running (Ctrl-C stops it)
up: build
	bin/orderflow up

# One go build for both binaries: one action graph keeps both cores busy
# through a cold build, where two in a row each end on a link alone.
build:
	go build -o bin/ ./local/cmd/orderflow ./local/cmd/orderflow-fn

## test: every module tidy, vet and every test, then the end-to-end suite twice:
## embedded broker + SQLite, and Apache Kafka + PostgreSQL (plus the
## replication and kcat tests)
test: test-prereqs tidy-check test-embedded test-deploy test-real test-knative
# Everything a test needs was checked (or installed) first: one that finds a
# tool missing fails rather than skips.
test: export ORDERFLOW_REQUIRE_TOOLS = 1

## test-prereqs: what the tests need beyond Go is here; as root, apt-get installs
## what is missing; otherwise it stops at once naming it (scripts/prereqs.sh)
test-prereqs:
	scripts/prereqs.sh

## test-embedded: vet, the schema compatibility gate, unit tests, end-to-end suite on the embedded broker and SQLite
test-embedded: vet schemas-check unit e2e

## schemas-check: every event family keeps its compatibility rule (`orderflow schemas check`);
## also installs jsoncompat (scripts/jsoncompat.sh: Python venv in .cache) for the unit tests' cross-check
schemas-check:
	scripts/jsoncompat.sh
	go run ./local/cmd/orderflow schemas check

## test-deploy: what a cluster would run, proven without one: the manifests
## (rendered by kustomize, validated by the Knative types) are checked by
## the unit tests of deploy/validate; here every function is built by func's
## host builder for this machine's platform (the first also by the func CLI,
## all three platforms) and each binary served
test-deploy: func-build

func-build:
	scripts/func-build.sh

## func-build-all: every function by the func CLI for all three platforms it builds (linux/amd64, arm64, arm/v7)
func-build-all:
	scripts/func-build.sh --all-platforms

## test-real: store tests on PostgreSQL, end-to-end suite on Apache Kafka + PostgreSQL,
## replication test on a three-broker cluster (starts and stops them itself)
test-real:
	scripts/test-real.sh all

test-replication:
	scripts/test-real.sh replication

## test-knative: build Knative's own Kafka data plane (Maven, a JDK 21+; once, cached in knlocal/.cache/)
## and run the same records through it and through the local plane (knlocal/knconform);
## (see docs/local-plane.md, "Knative's own data plane beside ours")
test-knative:
	knlocal/scripts/knative-dataplane.sh build
	cd knlocal && go test -count=1 -v -timeout 20m -run TestSameRecordsThroughBothDataPlanes ./knconform/

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
	@# Replicas of a function need PostgreSQL: the contention and scalebench
	@# tests run in test-real (embedded broker and Apache Kafka, both on PostgreSQL).
	go test -count=1 -v -timeout 20m -skip '^(TestContention|TestScaleToZeroAndReplicasMeasuredByScalebench$$)' ./local/e2e/

## tidy: tidy every module the way it resolves outside the workspace (tidy-check: only check)
tidy:
	scripts/tidy.sh

tidy-check:
	scripts/tidy.sh --check
