#!/usr/bin/env bash
# bench/oracle: seed 001's figures, each against a baseline measured in the same run:
#   jitgen.invoke through SQL for a component served by generated code (warm sandbox pool)
#   against the same call through an LLM test server answering after 300 ms (target JIT
#   p50 <= 5 ms); sandbox cold start p50 against unsandboxed python (target <= 150 ms);
#   evaluate_oracle over 1,000 components and 1,000,000 metric rows against the plain
#   aggregate of those rows (target <= 500 ms).
#   bench/oracle.sh [invokes=300] [llm_ms=300] [components=1000] [metrics=1000000]
source "$(dirname "$0")/../scripts/lib.sh"
bench_prepare
ensure_sandbox_venv
trap 'stop_cluster' EXIT
cd "$JG_ROOT"
cargo build --release -q -p jitgen-sidecar
JITGEN_LOG=warn target/release/jitgen migrate >/dev/null
target/release/jitgen bench-oracle --invokes "${1:-300}" --llm-ms "${2:-300}" --components "${3:-1000}" --metrics "${4:-1000000}"
