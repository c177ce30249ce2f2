#!/usr/bin/env bash
# Compares the CPU time of two xiang binaries on the same run, interleaved.
#
# Usage: scripts/interleave.sh [-n PAIRS] [-d DRAWS] [-t THREADS] [-s SCENARIO] A B
#
# Runs `A run SCENARIO --draws DRAWS --threads THREADS -q` and the same with B, one
# after the other, PAIRS times, swapping which goes first from pair to pair, so that a
# shared machine's drift weighs on both alike. Prints the median ratio B/A of CPU time
# (user + system, to the millisecond) with its interquartile range, and each binary's
# median and minimum. A ratio below 1 means B is faster. Environment variables pass
# through (XIANG_SIMD=avx2 compares the AVX2 copies).
#
# Defaults: 20 pairs, 300 000 draws, 1 thread, scenarios/baseline.toml.
#
# To compare a change with the commit before it:
#   git worktree add ../xiang-base HEAD~1 && (cd ../xiang-base && cargo build --release)
#   cargo build --release
#   scripts/interleave.sh ../xiang-base/target/release/xiang target/release/xiang
set -euo pipefail

pairs=20
draws=300000
threads=1
scenario=scenarios/baseline.toml
usage() {
    sed -n '4p' "$0" | sed 's/^# //' >&2
    exit 2
}
while getopts "n:d:t:s:h" opt; do
    case $opt in
    n) pairs=$OPTARG ;;
    d) draws=$OPTARG ;;
    t) threads=$OPTARG ;;
    s) scenario=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || usage
a=$1
b=$2
for bin in "$a" "$b"; do
    [ -x "$bin" ] || {
        echo "interleave.sh: $bin is not an executable (build it with cargo build --release)" >&2
        exit 2
    }
done
[ -f "$scenario" ] || {
    echo "interleave.sh: no scenario file $scenario (give one with -s)" >&2
    exit 2
}

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# CPU time of one run in seconds (user + system), from bash's `time`.
cpu() {
    local TIMEFORMAT='%3U %3S' t
    t=$({ time "$1" run "$scenario" --draws "$draws" --threads "$threads" \
        --out "$out/o" -q >/dev/null 2>"$out/err"; } 2>&1) || {
        echo "interleave.sh: $1 failed:" >&2
        cat "$out/err" >&2
        exit 1
    }
    awk '{ printf "%.3f\n", $1 + $2 }' <<<"$t"
}

for i in $(seq "$pairs"); do
    if ((i % 2)); then
        ta=$(cpu "$a")
        tb=$(cpu "$b")
    else
        tb=$(cpu "$b")
        ta=$(cpu "$a")
    fi
    echo "$ta $tb"
done | awk -v pairs="$pairs" '
    # Quantile q of a sorted array x[1..n], by linear interpolation.
    function quantile(x, n, q,    h, k) {
        h = 1 + (n - 1) * q; k = int(h)
        return k >= n ? x[n] : x[k] + (h - k) * (x[k + 1] - x[k])
    }
    function sorted(x, n,    i, j, v) {
        for (i = 2; i <= n; i++) {
            v = x[i]
            for (j = i - 1; j >= 1 && x[j] > v; j--) x[j + 1] = x[j]
            x[j + 1] = v
        }
    }
    { n++; ta[n] = $1; tb[n] = $2; r[n] = ($1 > 0) ? $2 / $1 : 0 }
    END {
        if (n == 0) exit 1
        sorted(ta, n); sorted(tb, n); sorted(r, n)
        printf "B/A CPU time: median %.3f (IQR %.3f-%.3f, %d pairs)\n",
            quantile(r, n, 0.5), quantile(r, n, 0.25), quantile(r, n, 0.75), n
        printf "A: median %.3f s, minimum %.3f s\n", quantile(ta, n, 0.5), ta[1]
        printf "B: median %.3f s, minimum %.3f s\n", quantile(tb, n, 0.5), tb[1]
    }'
