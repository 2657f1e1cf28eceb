# hookguard — the commands a fresh Debian machine needs.
#   make demo   the sidecar with examples/quickstart.toml in front of a built-in echo app
#   make test   everything CI runs
SHELL := /bin/bash
CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages the build needs: a C toolchain and cmake (pingora's zlib-ng), pkg-config.
APT_PACKAGES := build-essential cmake pkg-config curl

.PHONY: deps demo test lint bench fuzz-check deploy-check

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

demo: deps
	@$(CARGO) build -q -p hookguard
	@./scripts/demo.sh ./target/debug/hookguard

test: deps
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench:
	$(CARGO) bench -p hookguard-layers --bench verify

# The fuzz crate is not a workspace member (it needs libfuzzer); check that it builds.
fuzz-check:
	$(CARGO) check --manifest-path fuzz/Cargo.toml --bins

# Offline checks of the deployment files (each script installs what it needs).
deploy-check:
	@set -e; for check in deploy/check-*.sh; do echo "== $$check"; bash "$$check"; done
