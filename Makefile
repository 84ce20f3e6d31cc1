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
HARNESS = ./target/release/harness

# make bench: about five minutes on a 2-core machine.
DURATION ?= 20s
RUNS ?= 4
BENCH_FLAGS ?=
# make bench-full: every test × profile, then the queue scaling runs.
FULL_DURATION ?= 8s
FULL_RUNS ?= 3
FULL_TESTS ?= bandwidth pps latency conns
FULL_PROFILES ?= seed tuned
# Queue counts for the scaling table: 1, 2, 4, … up to the number of cores.
CORES := $(shell nproc)
SCALING_QUEUES ?= $(shell q=1; while [ $$q -le $(CORES) ]; do printf '%s ' $$q; q=$$((q*2)); done)
# make test runs each fuzz target this long; make fuzz as long as FUZZ_SECONDS says.
SMOKE_FUZZ_SECONDS ?= 10
FUZZ_SECONDS ?= 600

.PHONY: all deps deps-fuzz build test test-sanitize fuzz fuzz-smoke bench bench-full microbench clean

all: build

deps:
	@scripts/deps.sh

deps-fuzz:
	@NFQB_FUZZ_DEPS=1 scripts/deps.sh

build: deps
	$(CARGO) build --release --workspace

# Every test: unit, differential, CLI, privileged (each in its own namespace), the
# sanitized C filter, and a short run of every fuzz target.
test: deps-fuzz
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace -- --test-threads=1
	scripts/test-sanitize.sh 3
	scripts/fuzz.sh $(SMOKE_FUZZ_SECONDS)

test-sanitize: deps
	scripts/test-sanitize.sh

fuzz: deps-fuzz
	scripts/fuzz.sh $(FUZZ_SECONDS)

bench: build
	$(HARNESS) --impl all --duration $(DURATION) --runs $(RUNS) $(BENCH_FLAGS)

bench-full: build
	@set -e; for p in $(FULL_PROFILES); do for t in $(FULL_TESTS); do \
	  echo "== $$p $$t"; \
	  $(HARNESS) --impl all --profile $$p --test $$t --duration $(FULL_DURATION) \
	    --runs $(FULL_RUNS) --quiet --out results/$$p-$$t || [ $$? -eq 3 ]; \
	done; done
	@set -e; for q in $(SCALING_QUEUES); do \
	  echo "== scaling: tuned bandwidth, 4 streams, $$q queue(s)"; \
	  $(HARNESS) --impl all --profile tuned --test bandwidth --streams 4 --queues $$q \
	    --duration $(FULL_DURATION) --runs $(FULL_RUNS) --quiet --out results/scaling-q$$q || [ $$? -eq 3 ]; \
	done
	$(HARNESS) table $(foreach p,$(FULL_PROFILES),$(foreach t,$(FULL_TESTS),results/$(p)-$(t))) \
	  > results/matrix.md
	$(HARNESS) table $(foreach q,$(SCALING_QUEUES),results/scaling-q$(q)) > results/scaling.md
	@cat results/matrix.md results/scaling.md

microbench: build
	$(CARGO) bench -p rust-impl --bench decision -- all

clean:
	$(CARGO) clean
