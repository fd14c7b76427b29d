#!/bin/sh
# bench-tracing.sh measures what tracing costs in throughput: tools/call
# over loopback HTTP, 16 clients, embedded backend (BenchmarkHTTPToolCallTracing),
# with tracing off and on, in alternating pairs of short runs.
#
#   scripts/bench-tracing.sh                 # 20 pairs of 20000 calls, ratio 1.0
#   PAIRS=10 CALLS=40000 VARIANT=ratio-0.1 scripts/bench-tracing.sh
#
# On a shared machine throughput drifts by a third within minutes, more
# than the effect measured, so a single long run of each says little. Each
# pair runs "off" then VARIANT back to back, close enough in time to see
# the same neighbours; the ratio of the pair cancels the drift, and the
# median of the ratios discards the pairs a burst of noise fell into.
# Every line shows both runs' calls/s and CPU µs per call; the last line is
# the median ratio and its interquartile range.
set -eu

cd "$(dirname "$0")/.."

PAIRS=${PAIRS:-20}
CALLS=${CALLS:-20000}
VARIANT=${VARIANT:-ratio-1.0}

bin=$(mktemp)
trap 'rm -f "$bin"' EXIT
go test -c -o "$bin" .

# run prints "calls/s cpu-µs/call" of one benchmark run of variant $1.
run() {
	"$bin" -test.run XXX -test.bench "BenchmarkHTTPToolCallTracing/$1\$" -test.benchtime "${CALLS}x" |
		awk '/^Benchmark/ { for (i = 2; i < NF; i++) { if ($(i+1) == "calls/s") c = $i; if ($(i+1) == "cpu-µs/call") u = $i }; print c, u }'
}

i=0
while [ "$i" -lt "$PAIRS" ]; do
	i=$((i + 1))
	off=$(run off)
	on=$(run "$VARIANT")
	echo "$off $on"
done | awk -v variant="$VARIANT" '
	{ r[NR] = $3 / $1; printf "off %6.0f calls/s %6.1f cpu-µs/call   %s %6.0f calls/s %6.1f cpu-µs/call   ratio %.3f\n", $1, $2, variant, $3, $4, r[NR] }
	END {
		n = NR
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
		med = (n % 2) ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
		printf "%s vs off: median throughput ratio %.3f over %d pairs (interquartile %.3f to %.3f)\n", variant, med, n, r[int(n / 4) + 1], r[int(3 * n / 4)]
	}'
