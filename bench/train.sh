#!/usr/bin/env bash
# bench/train: LoRA training throughput and peak memory of jitgen-train against Hugging Face
# transformers + PEFT (PyTorch eager), same ~20M-parameter Llama-style model, same seed-like
# data (a system prompt listing 30 tools, 300 examples), same batches, LoRA r16/α32 on
# q,k,v,o, same thread count, same number of optimizer steps, measured in one run.
#   bench/train.sh [steps=8] [threads=2]
source "$(dirname "$0")/../scripts/lib.sh"
STEPS="${1:-8}"
THREADS="${2:-2}"
ensure_torch_venv
torch_env
cd "$JG_ROOT"
cargo build --release -q -p jitgen-trainer
work="$(mktemp -d /tmp/jitgen-bench-train.XXXXXX)"
trap 'rm -rf "$work"' EXIT
python bench/train_data.py "$work/pairs.jsonl" 30 10
target/release/jitgen-train make-tiny --out "$work/model" --corpus "$work/pairs.jsonl" --arch llama \
    --hidden 512 --layers 8 --vocab 4096 >/dev/null

log "jitgen-train ($STEPS steps, $THREADS threads)"
/usr/bin/time -f '%M' -o "$work/ours.rss" target/release/jitgen-train train --model-dir "$work/model" \
    --dataset "$work/pairs.jsonl" --out "$work/adapter" --max-steps "$STEPS" --threads "$THREADS" --cpu \
    --gate-threshold 0 >"$work/ours.out"
cat "$work/ours.out"
log "jitgen-train without sharing the system prompt (ablation)"
/usr/bin/time -f '%M' -o "$work/plain.rss" target/release/jitgen-train train --model-dir "$work/model" \
    --dataset "$work/pairs.jsonl" --out "$work/adapter-plain" --max-steps "$STEPS" --threads "$THREADS" --cpu \
    --gate-threshold 0 --no-share-prefix >/dev/null
log "transformers + PEFT ($STEPS steps, $THREADS threads)"
python bench/train_peft.py --model-dir "$work/model" --dataset "$work/pairs.jsonl" --steps "$STEPS" \
    --threads "$THREADS" >"$work/peft.json"
cat "$work/peft.json"

python - "$work" <<'PY'
import json, sys
w = sys.argv[1]
report = json.load(open(f"{w}/adapter/training_report.json"))
ours_tps = report["timings"]["tokens_per_s"]
ours_rss = int(open(f"{w}/ours.rss").read().strip()) / 1024.0
peft = json.load(open(f"{w}/peft.json"))
print(f"model: {report['model']['parameters'] / 1e6:.1f}M parameters ({report['model']['arch']}), "
      f"{report['model']['trainable_parameters'] / 1e6:.2f}M trainable")
print(f"{'':24}{'tokens/s':>12}{'peak RSS MiB':>14}")
print(f"{'jitgen-train':24}{ours_tps:12.0f}{ours_rss:14.0f}")
plain = json.load(open(f"{w}/adapter-plain/training_report.json"))["timings"]["tokens_per_s"]
plain_rss = int(open(f"{w}/plain.rss").read().strip()) / 1024.0
print(f"{'  without prefix sharing':24}{plain:12.0f}{plain_rss:14.0f}")
print(f"{'transformers + PEFT':24}{peft['tokens_per_s']:12.0f}{peft['peak_rss_mb']:14.0f}")
ratio = ours_tps / peft["tokens_per_s"]
mem = ours_rss / peft["peak_rss_mb"]
print(f"throughput ratio (ours / PEFT): {ratio:.2f}  (target >= 1.3: {'met' if ratio >= 1.3 else 'MISSED'})")
print(f"peak memory ratio (ours / PEFT): {mem:.2f}  (target <= 1.0: {'met' if mem <= 1.0 else 'MISSED'})")
PY
