#!/usr/bin/env bash
# bench/api: seed 004's HTTP API (`jitgen api`) against the same calls through SQL, in one run:
#   POST /api/v0/adapters/train, 200 commands × 10 examples, against jitgen.train_adapter as the
#   node's role (target: HTTP adds ≤ 10% at p50);
#   GET /api/v0/adapters/jobs/{id} at 16 concurrent clients against jitgen.adapter_job on 16
#   connections (target: p50 ≤ 2 ms).
#   bench/api.sh [posts=20] [gets_per_client=200]
source "$(dirname "$0")/../scripts/lib.sh"
POSTS="${1:-20}"
GETS="${2:-200}"
bench_prepare
cd "$JG_ROOT"
cargo build --release -p jitgen-sidecar
JITGEN_LOG=warn target/release/jitgen migrate >/dev/null
target/release/jitgen bench-api --posts "$POSTS" --gets-per-client "$GETS"
