#!/usr/bin/env bash
# bench/queue: enqueue→start latency (LISTEN vs poll-only) and echo throughput against a raw
# pgmq read/archive loop with the same number of connections, in one run.
#   bench/queue.sh [samples=300] [jobs=5000]
source "$(dirname "$0")/../scripts/lib.sh"
SAMPLES="${1:-300}"
JOBS="${2:-5000}"
bench_prepare
cd "$JG_ROOT"
cargo build --release -p jitgen-sidecar
JITGEN_LOG=warn target/release/jitgen migrate >/dev/null
target/release/jitgen bench-queue --samples "$SAMPLES" --jobs "$JOBS" --connections 4
