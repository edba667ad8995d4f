"""Logits of a Hugging Face model (optionally with a PEFT adapter) for given token ids.

Used by the trainer's parity tests: our forward pass must match transformers (and PEFT) on
the same weights. Writes {"logits": [len, vocab]} as safetensors.

    python hf_check.py --model DIR [--adapter DIR] --ids 1,2,3 --out logits.safetensors
"""
import argparse

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--adapter")
    p.add_argument("--ids", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32, attn_implementation="eager")
    if a.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, a.adapter)
    model.eval()
    ids = torch.tensor([[int(x) for x in a.ids.split(",")]])
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    save_file({"logits": logits[0].contiguous()}, a.out)


if __name__ == "__main__":
    main()
