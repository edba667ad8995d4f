"""The baseline of bench/train: Hugging Face transformers + PEFT LoRA training in PyTorch eager
mode, on the same model directory, data, batch rule, LoRA settings and thread count as
jitgen-train. Prints one JSON line: tokens/s (dataset tokens: system + prompt + target of every
example trained on) and peak RSS.

    python train_peft.py --model-dir D --dataset pairs.jsonl --steps N --threads T
"""
import argparse
import json
import random
import resource
import time

import torch
from peft import LoraConfig, get_peft_model
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model-dir", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--alpha", type=float, default=32)
    p.add_argument("--lr", type=float, default=2e-4)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)

    tok = Tokenizer.from_file(f"{a.model_dir}/tokenizer.json")
    start, end = tok.token_to_id("<|im_start|>"), tok.token_to_id("<|im_end|>")
    enc = lambda s: tok.encode(s, add_special_tokens=False).ids
    nl = enc("\n")
    rows = []
    for line in open(a.dataset):
        e = json.loads(line)
        if e["split"] != "train":
            continue
        # The same ChatML turns, tokenized turn by turn, as jitgen-train does.
        prompt = [start] + enc("system\n" + e["system"]) + [end] + nl
        prompt += [start] + enc("user\n" + e["user"]) + [end] + nl + [start] + enc("assistant\n")
        target = enc(e["target"]) + [end]
        rows.append((prompt, target))
    # Same batching rule: sorted by length, batch_size per batch.
    rows.sort(key=lambda r: len(r[0]) + len(r[1]))
    batches = [rows[i:i + a.batch_size] for i in range(0, len(rows), a.batch_size)]
    random.Random(42).shuffle(batches)

    model = AutoModelForCausalLM.from_pretrained(a.model_dir, dtype=torch.float32)
    cfg = LoraConfig(r=a.rank, lora_alpha=a.alpha, lora_dropout=0.05,
                     target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM")
    model = get_peft_model(model, cfg)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=a.lr, weight_decay=0.0)

    tokens = 0
    t0 = time.perf_counter()
    for step in range(a.steps):
        batch = batches[step % len(batches)]
        width = max(len(p) + len(t) for p, t in batch)
        ids = torch.full((len(batch), width), end, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (pr, tg) in enumerate(batch):
            seq = pr + tg
            ids[i, :len(seq)] = torch.tensor(seq)
            labels[i, len(pr):len(seq)] = torch.tensor(tg)
            mask[i, :len(seq)] = 1
            tokens += len(seq)
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    secs = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"tokens_per_s": tokens / secs, "tokens": tokens, "seconds": secs, "peak_rss_mb": peak_mb,
                      "steps": a.steps, "parameters": params, "last_loss": out.loss.item()}))


if __name__ == "__main__":
    main()
