#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/, see fuzz/README.md) and runs each for
# SECONDS (default 60), one after the other, pinned to one core, then prints
# executions and crashes per target. Exits non-zero if any target crashed;
# the input is then under fuzz/artifacts/<target>/.
#
#   bench/fuzz.sh [SECONDS] [TARGET...]
#
# Environment: FUZZ_CPU (core to pin to, default the last one),
# FUZZ_BUILD=0 (skip the build), FUZZ_RSS_MB (libFuzzer's RSS limit,
# default 2048).
#
# The build uses `cargo fuzz build -O -s none` when cargo-fuzz is
# installed, and otherwise the same flags by hand: on a stable toolchain no
# sanitizer can be asked for (they need -Zsanitizer), so the targets are
# coverage-guided libFuzzer binaries with debug assertions and overflow
# checks, without ASan (safe Rust's panics are what we look for).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-60}
shift || true
cpu=${FUZZ_CPU:-$(($(nproc) - 1))}
rss=${FUZZ_RSS_MB:-2048}
triple=$(rustc -vV | sed -n 's/^host: //p')
bindir=fuzz/target/$triple/release

all_targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^zonesync-fuzz$')
targets=${*:-$all_targets}

if [[ ${FUZZ_BUILD:-1} != 0 ]]; then
    if cargo fuzz --version >/dev/null 2>&1; then
        echo "== building with $(cargo fuzz --version) (-O -s none)"
        (cd fuzz && cargo fuzz build -O -s none)
    else
        echo "== building with cargo build and libFuzzer's coverage flags (no cargo-fuzz)"
        flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
        flags+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters"
        flags+=" -Cllvm-args=-sanitizer-coverage-pc-table"
        flags+=" -Cllvm-args=-sanitizer-coverage-trace-compares"
        flags+=" -Cllvm-args=-sanitizer-coverage-stack-depth"
        flags+=" -Cllvm-args=-simplifycfg-branch-fold-threshold=0"
        flags+=" --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
        # --target: the flags must not reach build scripts and proc macros.
        (cd fuzz && RUSTFLAGS="$flags" cargo build --release --target "$triple" --bins)
    fi
fi

run=fuzz/target/runs
mkdir -p "$run"
total=0
failed=()
printf '\n%-16s %14s %10s %8s  %s\n' target executions exec/s crashes note
for t in $targets; do
    bin=$bindir/$t
    [[ -x $bin ]] || { echo "$t: no binary at $bin" >&2; failed+=("$t"); continue; }
    # New inputs go to a scratch corpus; the committed seeds are read only.
    mkdir -p "$run/corpus/$t" "fuzz/artifacts/$t" "fuzz/corpus/$t"
    before=$(find "fuzz/artifacts/$t" -type f | wc -l)
    log=$run/$t.log
    set +e
    taskset -c "$cpu" "$bin" -max_total_time="$seconds" -print_final_stats=1 \
        -rss_limit_mb="$rss" -timeout=10 -artifact_prefix="fuzz/artifacts/$t/" \
        "$run/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [[ -z $execs ]]; then
        # No final stats (a crash): the last status line's count.
        execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    fi
    rate=$(grep -oE 'exec/s: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$' || true)
    after=$(find "fuzz/artifacts/$t" -type f | wc -l)
    crashes=$((after - before))
    note=""
    if [[ $rc != 0 || $crashes != 0 ]]; then
        failed+=("$t")
        note=$(grep -m1 -E "panicked at|ERROR: libFuzzer|==ERROR" -A1 "$log" | tr '\n' ' ' | cut -c1-160)
        [[ $crashes == 0 ]] && crashes=1
    fi
    total=$((total + ${execs:-0}))
    printf '%-16s %14s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$crashes" "$note"
done
printf '%-16s %14s\n' total "$total"
echo "logs: $run/<target>.log; crash inputs: fuzz/artifacts/<target>/"
if ((${#failed[@]})); then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
