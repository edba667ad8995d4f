#!/usr/bin/env bash
# bench/serve: `jitgen serve` on the real base model (SmolLM2-135M-Instruct, converted by
# ensure_base_model), each figure against a baseline measured in the same run:
#   per-token decode with a cached seed-004 adapter (r16, q/k/v/o) against the base alone
#   (target overhead ≤ 10%); first adapter load from S3, p50 over fresh nodes (target ≤ 500 ms);
#   decode tokens/s against transformers `generate` on the same model, prompt ids and threads
#   (target ≥ 1.0×).
#   bench/serve.sh [tokens=64] [reps=7] [threads=2] [nodes=8]
source "$(dirname "$0")/../scripts/lib.sh"
TOKENS="${1:-64}"
REPS="${2:-7}"
THREADS="${3:-2}"
NODES="${4:-8}"
bench_prepare
start_s3
trap 'stop_services; stop_cluster' EXIT
cd "$JG_ROOT"
cargo build --release -q -p jitgen-sidecar
JITGEN_LOG=warn target/release/jitgen migrate >/dev/null
target/release/jitgen bench-serve --model-dir "$JG_BASE_MODEL_DIR" --tokens "$TOKENS" --reps "$REPS" \
    --threads "$THREADS" --nodes "$NODES"
