# Sendwell: the two commands are `make run` and `make test`.
SHELL := /bin/bash
GO ?= go

.PHONY: run test check-tools fmt-check vet lint unit bench bench-import bench-send bench-segments bench-preview bench-webhooks bench-broadcast

# The moto the local stack's launcher (shared/localaws/moto_server.py) is
# written against: read from the launcher, so the pin lives in one place.
MOTO_VERSION := $(shell sed -nE 's/^MOTO_VERSION = "([^"]+)".*/\1/p' shared/localaws/moto_server.py)

# Tools the project needs on the machine. Go and moto_server (with cfn-lint) are
# not Go modules, so we check for them and say how to install them. Another moto
# than MOTO_VERSION still runs, but as it is (the launcher warns at start).
check-tools:
	@command -v $(GO) >/dev/null || { echo "Go 1.26+ is required: https://go.dev/dl/"; exit 1; }
	@command -v moto_server >/dev/null || { echo "moto_server is required: pip install 'moto[server]==$(MOTO_VERSION)'"; exit 1; }
	@v=$$(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null); \
	if [ "$$v" != "$(MOTO_VERSION)" ]; then \
		echo "warning: python3 has moto $${v:-(none)}, but the launcher is written for moto $(MOTO_VERSION):" \
			"the local stack will run stock moto (slow transactions on large tables," \
			"FIFO deduplication only against messages still in the queue)." \
			"Install it with: pip install 'moto[server]==$(MOTO_VERSION)'" >&2; \
	fi

run: check-tools
	$(GO) run ./infra/local

test: check-tools fmt-check vet lint unit

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

lint:
	@command -v cfn-lint >/dev/null || { echo "cfn-lint is required: pip install cfn-lint"; exit 1; }
	cfn-lint template.yaml

unit:
	$(GO) test -race -count=1 -timeout 15m ./...

# The README's figures. bench-import (100,000 rows) takes about 9 minutes; IMPORT_ROWS=20000 about 2.
bench:
	$(GO) test -run '^$$' -bench 'RequestPath|BatchUpsert100' -benchtime 20x -benchmem ./shared/app/

# Sending through make run's real pollers: latency of SEND_SINGLE sends (200), then a burst of SEND_BURST (1000).
bench-send:
	$(GO) test -run '^$$' -bench SendThroughMakeRun -benchtime 1x -timeout 30m ./infra/local/

# Segments through make run: freshness of SEGMENT_CHANGES changes (100); a build and previews over SEGMENT_CONTACTS (2000; 10000 takes about 12 minutes).
bench-segments:
	$(GO) test -run '^$$' -bench 'Segment(Freshness|Build)ThroughMakeRun' -benchtime 1x -timeout 90m ./infra/local/

# Webhooks through make run: from a contact change to the receiver's 2xx, over WEBHOOK_CHANGES changes (50).
bench-webhooks:
	$(GO) test -run '^$$' -bench 'WebhookLatencyThroughMakeRun' -benchtime 1x -timeout 30m ./infra/local/

# A broadcast through make run to BROADCAST_CONTACTS (10000) at BROADCAST_RATE a minute (1200), the stack killed halfway and restarted.
bench-broadcast:
	$(GO) test -run '^$$' -bench 'BroadcastThroughMakeRun' -benchtime 1x -timeout 120m ./infra/local/

# Previews over PREVIEW_CONTACTS contacts (100000, the most a preview evaluates; about 3 minutes).
bench-preview:
	$(GO) test -run '^$$' -bench 'Preview$$' -benchtime 1x -timeout 60m ./shared/segments/

bench-import:
	$(GO) test -run '^$$' -bench 'Import$$' -benchtime 1x -timeout 60m ./shared/app/

# SAM's makefile builder calls `make build-<LogicalId>` with ARTIFACTS_DIR set.
# One recipe serves every function: AuthFunction -> ./functions/auth,
# SendWorkerFunction -> ./functions/send-worker (DIR_<name> overrides the guess).
build-%Function:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags="-s -w" \
		-o $(ARTIFACTS_DIR)/bootstrap ./functions/$(or $(DIR_$*),$(shell echo '$*' | sed -E 's/([a-z0-9])([A-Z])/\1-\2/g' | tr A-Z a-z))
