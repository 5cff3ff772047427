"""Loads a Hugging Face model folder with transformers and, on top of it, a PEFT
adapter with peft; writes the logits of both for the given token ids.

Usage: peft_logits.py MODEL_DIR ADAPTER_DIR IDS_JSON OUT_DIR
Writes OUT_DIR/base.f32 and OUT_DIR/adapted.f32 (little-endian float32,
tokens x vocab) and OUT_DIR/loaded.json (what peft attached).
"""

import json
import sys
from pathlib import Path

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM


def logits(model, ids):
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]))
    return out.logits[0].to(torch.float32).numpy()


def main():
    model_dir, adapter_dir, ids_json, out_dir = sys.argv[1:5]
    ids = json.loads(Path(ids_json).read_text())
    out = Path(out_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    logits(model, ids).astype("<f4").tofile(out / "base.f32")
    adapted = PeftModel.from_pretrained(model, adapter_dir)
    adapted.eval()
    logits(adapted, ids).astype("<f4").tofile(out / "adapted.f32")
    lora_modules = sorted(
        name for name, module in adapted.named_modules() if hasattr(module, "lora_A") and len(module.lora_A) > 0
    )
    nonzero_b = sum(
        1 for name, p in adapted.named_parameters() if "lora_B" in name and p.abs().max().item() > 0
    )
    config = adapted.peft_config["default"]
    (out / "loaded.json").write_text(
        json.dumps(
            {
                "lora_modules": lora_modules,
                "nonzero_lora_b": nonzero_b,
                "r": config.r,
                "lora_alpha": config.lora_alpha,
                "target_modules": sorted(config.target_modules),
                "architecture": type(model).__name__,
            }
        )
    )


if __name__ == "__main__":
    main()
