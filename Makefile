# hookguard — the commands a fresh Debian machine needs.
#   make demo   the sidecar with examples/quickstart.toml in front of a built-in echo app
#   make test   everything CI runs
#   make features   hookguard-layers' feature matrix
SHELL := /bin/bash
CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages the build and tests need: a C toolchain and cmake (pingora's zlib-ng),
# pkg-config; chromium and chromium-driver for the console's browser test (proxy/tests/console.rs);
# graphviz: the tests render `hookguard graph --format dot` with `dot`; mosquitto: the MQTT
# alert channel's tests start a real broker; redis-server: the shared-state tests.
APT_PACKAGES := build-essential cmake pkg-config curl chromium chromium-driver graphviz mosquitto redis-server

.PHONY: deps demo test lint features layers-docs deny bench fuzz-check deploy-check mutants

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

lint: deny
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Licenses and duplicate versions (deny.toml). Needs no advisory database, so no network
# beyond crates.io; cargo-deny is built from crates.io the first time.
deny:
	@command -v cargo-deny >/dev/null || $(CARGO) install --locked cargo-deny
	$(CARGO) deny --workspace check licenses bans

# hookguard-layers as a service sees it: with no feature, each feature alone, the default
# and `full`, the crate builds, is clippy-clean and passes its tests; `verify` alone stays
# within 30 crates; the docs build without warnings. (The workspace's own `make test`
# only ever sees `full`: the sidecar turns it on for everyone.)
LAYERS_FEATURES := verify ed25519 ip ip-fetch rate replay credentials vault infisical rules full
features:
	@set -e; for f in none $(LAYERS_FEATURES) default; do \
	  case $$f in none) flags="--no-default-features";; default) flags="";; \
	    *) flags="--no-default-features --features $$f";; esac; \
	  echo "== hookguard-layers [$$f]"; \
	  $(CARGO) clippy -q -p hookguard-layers --all-targets $$flags -- -D warnings; \
	  $(CARGO) test -q -p hookguard-layers $$flags; \
	done
	./scripts/layers-crates.sh verify 30
	$(MAKE) layers-docs

# The docs as docs.rs renders them (every feature, marked with the feature it needs). The
# feature marks need a nightly rustdoc: checked when one is installed, said when not.
layers-docs:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -q --no-deps -p hookguard-layers --all-features
	@if $(CARGO) +nightly --version >/dev/null 2>&1; then \
	  echo "RUSTDOCFLAGS='--cfg docsrs -D warnings' cargo +nightly doc -p hookguard-layers --all-features"; \
	  RUSTDOCFLAGS="--cfg docsrs -D warnings" $(CARGO) +nightly doc -q --no-deps -p hookguard-layers \
	    --all-features --target-dir target/docsrs; \
	else echo "no nightly toolchain: the docs.rs feature marks are not checked"; fi

bench:
	$(CARGO) bench -p hookguard-layers --bench verify

# The fuzz crate is not a workspace member (it needs libfuzzer); check that it builds.
fuzz-check:
	$(CARGO) check --manifest-path fuzz/Cargo.toml --bins

# Offline checks of the deployment files (each script installs what it needs).
deploy-check:
	@set -e; for check in deploy/check-*.sh; do echo "== $$check"; bash "$$check"; done

# Mutation testing of the security-critical code: every mutant cargo-mutants makes there
# should make a test fail (a `Debug` impl, or one shown equivalent in a comment, excepted).
# Slow (tens of minutes on two cores); the report is in mutants.out/.
MUTANTS_FILES := 'layers/src/verify/**/*.rs' 'layers/src/ip/**/*.rs' 'layers/src/rate/**/*.rs' \
	'layers/src/replay/**/*.rs' 'layers/src/credentials/**/*.rs'
mutants:
	@command -v cargo-mutants >/dev/null || $(CARGO) install --locked cargo-mutants
	$(CARGO) mutants -p hookguard-layers --all-features \
	  $(addprefix --file ,$(MUTANTS_FILES)) --exclude '**/tests.rs' --exclude '**/tests/**' \
	  --exclude layers/src/verify/testing.rs --exclude layers/src/verify/fuzzing.rs \
	  -- --lib
