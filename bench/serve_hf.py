"""The baseline of bench/serve.sh: transformers `generate` (greedy, KV cache) on the same model,
prompt token ids and thread count as `jitgen serve`. Decode speed is measured as the time of
`tokens` new tokens minus the time of one (the prompt's pass), so prefill is not counted.
Prints one JSON object."""
import argparse
import json
import statistics
import time

import torch
from transformers import AutoModelForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("--model-dir", required=True)
ap.add_argument("--ids", required=True)
ap.add_argument("--tokens", type=int, required=True)
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()

torch.set_num_threads(a.threads)
model = AutoModelForCausalLM.from_pretrained(a.model_dir, dtype=torch.float32).eval()
ids = torch.tensor([[int(i) for i in a.ids.split(",")]])


def timed(n):
    t = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False, use_cache=True,
                             pad_token_id=model.config.eos_token_id)
    assert out.shape[1] == ids.shape[1] + n, out.shape
    return time.perf_counter() - t


for _ in range(2):
    timed(8)
rates = []
for _ in range(a.reps):
    one = timed(1)
    full = timed(a.tokens)
    rates.append((a.tokens - 1) / max(full - one, 1e-9))
print(json.dumps({"decode_tokens_per_s_p50": statistics.median(rates), "torch": torch.__version__, "reps": a.reps}))
