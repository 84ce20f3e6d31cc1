# nfq-bench: the two commands a newcomer needs are `sudo make bench` and `sudo make test`.

# Under sudo, cargo usually lives in the invoking user's ~/.cargo: find it there.
SUDO_HOME := $(if $(SUDO_USER),$(shell getent passwd $(SUDO_USER) | cut -d: -f6))
ifneq ($(SUDO_HOME),)
  export PATH := $(SUDO_HOME)/.cargo/bin:$(PATH)
  ifeq ($(wildcard $(HOME)/.rustup),)
    export RUSTUP_HOME ?= $(SUDO_HOME)/.rustup
  endif
endif
CARGO ?= cargo

DURATION ?= 20s
RUNS ?= 4
BENCH_FLAGS ?=

.PHONY: all deps build test bench clean

all: build

deps:
	@scripts/deps.sh

build: deps
	$(CARGO) build --release --workspace

test: deps
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace -- --test-threads=1

bench: build
	./target/release/harness --impl all --duration $(DURATION) --runs $(RUNS) $(BENCH_FLAGS)

clean:
	$(CARGO) clean
