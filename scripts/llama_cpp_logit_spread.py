"""How far llama.cpp's own logits move with its settings, against the golden values.

Usage: $(scripts/llama-cpp-env.sh) scripts/llama_cpp_logit_spread.py MODEL.gguf GOLDEN.jsonl
GOLDEN.jsonl is ../shared/golden/logits/<model>.jsonl (made with llama.cpp's default
settings: f16 KV cache, no flash attention, the prompt in one batch). For each
setting, prints the largest |difference| over each prompt's golden top-10 logits: the
scale of rounding-level noise that f1ai's own difference from the golden file
(`cargo run --release -p f1-model --example logits_diff`) can be read against.
"""

import json
import sys
from pathlib import Path

import llama_cpp.llama_cpp as llama_cpp_c
from llama_cpp import Llama

SETTINGS = {
    "default (the golden file's)": {},
    "flash attention": {"flash_attn": True},
    "f32 KV cache": {"type_k": 0, "type_v": 0},
    "one thread": {"n_threads": 1},
    "prompt one token at a time": {"one_at_a_time": True},
    "no weight repacking": {"repack": False},
}


def without_repacking(default_params):
    """llama.cpp's model defaults, less its repacked CPU weights (use_extra_bufts)."""
    def params():
        p = default_params()
        p.use_extra_bufts = False
        return p
    return params


def spread(gguf, rows, setting):
    setting = dict(setting)
    one_at_a_time = setting.pop("one_at_a_time", False)
    threads = setting.pop("n_threads", 2)
    default_params = llama_cpp_c.llama_model_default_params
    if not setting.pop("repack", True):
        llama_cpp_c.llama_model_default_params = without_repacking(default_params)
    try:
        llm = Llama(model_path=gguf, n_threads=threads, n_ctx=512, verbose=False,
                    logits_all=True, seed=0, **setting)
    finally:
        llama_cpp_c.llama_model_default_params = default_params
    worst = []
    for row in rows:
        ids = row["ids"]
        llm.reset()
        for batch in ([[t] for t in ids] if one_at_a_time else [ids]):
            llm.eval(batch)
        scores = llm.scores[len(ids) - 1]
        worst.append(max(abs(float(scores[i]) - logit)
                         for i, logit in zip(row["top10_ids"], row["top10_logits"])))
    return worst


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    gguf, golden = sys.argv[1], sys.argv[2]
    rows = [json.loads(line) for line in Path(golden).read_text().splitlines()]
    for name, setting in SETTINGS.items():
        worst = spread(gguf, rows, setting)
        print(f"{name:30} " + "  ".join(f"{w:.3f}" for w in worst))


if __name__ == "__main__":
    main()
