# Ferry — every entry point. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
TOOLS     := $(CURDIR)/.tools
BIN       := $(CURDIR)/bin
# moto, which the emulator's conformance test runs as its reference, comes
# with this machine image's pyenv Python; put it first even where a shell
# was not set up for pyenv (CI).
PYENV_SHIMS := $(wildcard $(HOME)/.pyenv/shims)
export PATH := $(TOOLS)/bin:$(if $(PYENV_SHIMS),$(PYENV_SHIMS):)$(PATH)

STATICCHECK_VERSION := v0.8.2

# The packages make test also runs under the race detector: those with
# concurrency of their own, about a minute in all here. Left out: test/e2e
# for cost (minutes more), test/memory and test/peakrss because they
# measure RSS, which the detector multiplies, and infra/... for a race
# inside jsii-runtime-go (its Close and a goroutine both wait on the child
# process) that the CDK tests trigger.
RACE_PACKAGES := ./cmd/ferry/... ./internal/approval/... ./internal/config/... ./internal/imagecopy/... ./internal/credentials/... \
	./internal/ecrpolicy/... ./internal/emulator/... ./internal/gate/... ./internal/progress/... ./internal/reconcile/... \
	./internal/runner/... ./internal/status/... ./internal/workflow/...

NODE_BIN  := $(CURDIR)/node_modules/.bin

# Node tools (CDK CLI, local Step Functions runner) and the Node 22 they run
# on, pinned in package-lock.json.
# The go.mod inside node_modules keeps the Go files some npm packages ship
# (CDK's init templates) out of ./... .
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@echo 'module ignore/node_modules' > node_modules/go.mod
	@touch $@

# Target names in colour on a terminal only: piped or redirected, the
# escape codes would be noise.
.PHONY: help
help: ## List the targets
	@if test -t 1; then on='\033[36m'; off='\033[0m'; else on=; off=; fi; \
	awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %s%-14s%s %s\n", on, $$1, off, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: build-cli build-lambdas ## Build bin/ferry and every Lambda's bin/lambda/<name>/bootstrap

LAMBDAS := $(notdir $(wildcard functions/*))

# The version `ferry version` prints. Without git (a source tarball) it is
# left out, and ferry reports what the Go toolchain recorded instead.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
CLI_LDFLAGS := -s -w $(if $(VERSION),-X github.com/ferry-dev/ferry/internal/version.version=$(VERSION))

.PHONY: build-cli
build-cli: ## Build the ferry CLI into bin/ferry (every subcommand, one binary)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(CLI_LDFLAGS)" -o $(BIN)/ferry ./cmd/ferry

.PHONY: build-lambdas
build-lambdas: ## Build each Lambda into bin/lambda/<name>/bootstrap (linux/arm64, provided.al2023)
	@for f in $(LAMBDAS); do \
		cmd='GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags="-s -w" -o $(BIN)/lambda/'$$f'/bootstrap ./functions/'$$f; \
		echo "$$cmd"; eval "$$cmd" || exit 1; \
	done

.PHONY: test
test: node_modules/.installed ## Run every test (unit, registry, fuzz seed corpus, infra; the concurrent packages again under -race) and synth ferry.example.yaml; installs what it needs
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -race -count=1 -timeout 10m $(RACE_PACKAGES)
	$(MAKE) --no-print-directory synth CONFIG=ferry.example.yaml

# The CDK CLI (pinned in package-lock.json) and the Go app it starts, whose
# jsii runtime runs on the same Node 22: no end-of-life warnings, no
# telemetry, no network for synth.
CDK := PATH="$(NODE_BIN):$$PATH" CDK_DISABLE_CLI_TELEMETRY=true $(NODE_BIN)/cdk
CDK_OUT ?= cdk.out

.PHONY: synth
synth: build node_modules/.installed ## Write the CloudFormation templates to cdk.out/, checked by cdk-nag (CONFIG=ferry.example.yaml; no AWS credentials needed)
	$(CDK) synth --quiet -c config=$(or $(CONFIG),ferry.example.yaml) -o $(CDK_OUT)
	@echo "templates in $(CDK_OUT)/: $$(cd $(CDK_OUT) && ls *.template.json | tr '\n' ' ')"

.PHONY: deploy
deploy: build node_modules/.installed ## Deploy with cdk deploy --all (CONFIG=ferry.yaml, STACKS=Ferry for one stack; needs AWS credentials, see docs/deploying.md)
	$(CDK) deploy $(or $(STACKS),--all) -c config=$(or $(CONFIG),ferry.yaml) $(DEPLOY_FLAGS)

.PHONY: demo
demo: build-cli node_modules/.installed ## Run the whole workflow locally: push events, state machine, approval, a failed destination and its redrive, proof (no AWS account)
	$(GO) run ./test/demo --ferry $(BIN)/ferry

# PROFILE=wan runs the copy scenario behind shaping proxies: the source 1 ms
# away, each destination 40 ms away each way at 50 MB/s per connection.
PROFILE ?= loopback
# BENCHFLAGS passes more flags to the bench, e.g. --trials 5, --tls (the
# WAN profile with HTTPS registries that offer HTTP/2), --hold.
BENCHFLAGS ?=
.PHONY: bench
bench: build ## Benchmark ferry copy against crane, skopeo and regctl, and ferry sync against regsync and skopeo sync, on loopback registries (PROFILE=wan: copy across a modelled WAN)
	$(GO) run ./test/bench --ferry $(BIN)/ferry --tools $(TOOLS) --profile $(PROFILE) $(BENCHFLAGS)

.PHONY: fuzz
fuzz: ## Fuzz the pattern parser and matcher and the image reference parser for 30s each
	$(GO) test ./internal/match -run '^$$' -fuzz FuzzCompile -fuzztime 30s
	$(GO) test ./internal/match -run '^$$' -fuzz FuzzMatch -fuzztime 30s
	$(GO) test ./internal/imageref -run '^$$' -fuzz FuzzParse -fuzztime 30s

# cfn-lint (Python; this machine image's pyenv has 1.51, and CI runs on
# the same image) checks the templates synth writes for ferry.example.yaml,
# in a directory of its own so that cdk.out/ keeps what you synthesized.
# Rules it ignores, each with its reason, are in .cfnlintrc.
CFN_LINT     ?= cfn-lint
LINT_CDK_OUT := $(BIN)/lint-cdk.out

.PHONY: lint
lint: ## gofmt, go mod tidy -e, go vet, staticcheck, and cfn-lint on the templates synth writes for ferry.example.yaml
	@command -v $(CFN_LINT) >/dev/null || { echo "make lint: $(CFN_LINT) not found. Install it with 'pip install cfn-lint' or 'pipx install cfn-lint' (1.51 is known to work; this project's machine image has it in its pyenv Python), or give its path: make lint CFN_LINT=/path/to/cfn-lint"; exit 1; }
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -e -diff >/dev/null 2>&1 || { echo "go.mod or go.sum is not tidy: run go mod tidy -e (see the comment in go.mod), then commit what it changes"; $(GO) mod tidy -e -diff 2>/dev/null; exit 1; }
	$(GO) vet ./...
	@test -x $(TOOLS)/bin/staticcheck || GOBIN=$(TOOLS)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(TOOLS)/bin/staticcheck ./...
	@rm -rf $(LINT_CDK_OUT)
	$(MAKE) --no-print-directory synth CONFIG=ferry.example.yaml CDK_OUT=$(LINT_CDK_OUT)
	$(CFN_LINT) $(LINT_CDK_OUT)/*.template.json

.PHONY: clean
clean: ## Remove build output (bin/, cdk.out/); keeps downloaded tools in .tools/
	rm -rf $(BIN) cdk.out
