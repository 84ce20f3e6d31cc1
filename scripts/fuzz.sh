#!/usr/bin/env bash
# Builds and runs every fuzz target for SECONDS each (default 60) and prints the number of
# executions per target (libFuzzer's `stat::number_of_executed_units`).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Targets (default: all):
#   rust_decide, rust_rules              Rust decision / rules parser alone (cargo-fuzz)
#   differential, differential_rules     C (via c-impl) against Rust, any difference panics
#   fuzz_decide, fuzz_rules              C decision / rules parser alone, in C
#                                        (c-impl/fuzz/*.c, clang -fsanitize=fuzzer,address,undefined)
# Environment:
#   FUZZ_RUNS=N   also stop a target after N executions (e.g. 10000000); SECONDS still caps it
#   FUZZ_JOBS=N   targets run at once (default 1; this is a 2-core machine)
#
# Needs: clang and libclang-rt-14-dev (libFuzzer, ASan, UBSan runtimes), cargo-fuzz
# (`cargo install cargo-fuzz`). Only a stable toolchain is needed: RUSTC_BOOTSTRAP=1 lets it
# take the -Z sanitizer flags cargo-fuzz passes.
#
# The committed seeds (fuzz/corpus/<target>/) are only read; what libFuzzer finds goes to
# fuzz/target/corpus/<target>/ and crashes to fuzz/artifacts/<target>/ (both ignored by git).
# A crash makes the script exit 1 after all targets ran: turn the artifact into a unit test,
# fix the bug, and copy the input to fuzz/corpus/<target>/regress-<what> so CI replays it
# (rust-impl/tests/fuzz_corpus.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SECONDS_PER_TARGET=${1:-60}
shift || true
ALL=(rust_decide rust_rules differential differential_rules fuzz_decide fuzz_rules)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")
JOBS=${FUZZ_JOBS:-1}
RUNS_FLAG=()
[ -n "${FUZZ_RUNS:-}" ] && RUNS_FLAG=(-runs="$FUZZ_RUNS")

case "$SECONDS_PER_TARGET" in
'' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a number, got '$SECONDS_PER_TARGET'" >&2; exit 2 ;;
esac
for t in "${TARGETS[@]}"; do
	case " ${ALL[*]} " in *" $t "*) ;; *) echo "fuzz.sh: unknown target '$t'" >&2; exit 2 ;; esac
done

command -v clang >/dev/null || { echo "fuzz.sh: clang is missing (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
cargo fuzz --version >/dev/null 2>&1 || { echo "fuzz.sh: cargo-fuzz is missing (cargo install cargo-fuzz)" >&2; exit 1; }

export RUSTC_BOOTSTRAP=1
HOST=$(rustc -vV | sed -n 's/^host: //p')
BIN_RUST=$ROOT/fuzz/target/$HOST/release
BIN_C=$ROOT/fuzz/target/c
WORK=$ROOT/fuzz/target/corpus
mkdir -p "$BIN_C" "$WORK"

# ---- build -------------------------------------------------------------------
echo "== building the cargo-fuzz targets"
# The C code linked by c-impl is instrumented too (coverage + ASan; UBSan as traps, as the
# Rust sanitizer runtime has no UBSan handlers), so libFuzzer sees its branches.
(
	cd fuzz
	env CC=clang \
		"CFLAGS_${HOST//-/_}=-fsanitize=fuzzer-no-link,address,undefined -fsanitize-trap=undefined -fno-omit-frame-pointer" \
		cargo fuzz build -O --debug-assertions
)
echo "== building the C targets"
for t in fuzz_decide fuzz_rules; do
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer -Wall -Wextra -Werror \
		-DNFQB_FUZZ_RULES_DIR="\"$ROOT/fuzz/rules\"" -I c-impl/csrc \
		"c-impl/fuzz/$t.c" c-impl/csrc/decide.c -o "$BIN_C/$t"
done

# ---- run ---------------------------------------------------------------------
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
	local t=$1 bin
	case "$t" in fuzz_*) bin=$BIN_C/$t ;; *) bin=$BIN_RUST/$t ;; esac
	mkdir -p "$WORK/$t" "fuzz/artifacts/$t"
	local start end rc=0
	start=$(date +%s)
	"$bin" "$WORK/$t" "fuzz/corpus/$t" \
		-max_total_time="$SECONDS_PER_TARGET" "${RUNS_FLAG[@]}" \
		-print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="fuzz/artifacts/$t/" >"$WORK/$t.log" 2>&1 || rc=$?
	end=$(date +%s)
	local execs
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$t.log" | tail -1)
	echo "$t ${execs:-?} $((end - start)) $rc" >"$WORK/$t.result"
}

running=0
for t in "${TARGETS[@]}"; do
	echo "== $t: ${SECONDS_PER_TARGET}s${FUZZ_RUNS:+ or $FUZZ_RUNS runs} (log: fuzz/target/corpus/$t.log)"
	rm -f "$WORK/$t.result"
	run_one "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$JOBS" ]; then
		wait -n || true
		running=$((running - 1))
	fi
done
wait

# ---- report ------------------------------------------------------------------
status=0
printf '\n%-20s %15s %8s  %s\n' target executions seconds result
for t in "${TARGETS[@]}"; do
	read -r _ execs secs rc <"$WORK/$t.result"
	if [ "$rc" = 0 ]; then
		result=ok
	else
		result="CRASH (exit $rc): see fuzz/target/corpus/$t.log and fuzz/artifacts/$t/"
		status=1
	fi
	printf '%-20s %15s %8s  %s\n' "$t" "$execs" "$secs" "$result"
done
exit $status
