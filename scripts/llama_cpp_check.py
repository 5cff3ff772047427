"""llama.cpp on GGUFs f1ai wrote from Hugging Face folders (run by llama-cpp-check.sh).

Usage: llama_cpp_check.py GOLDEN_DIR SMOLLM2_GGUF GEMMA3_GGUF
Each file must tokenize every golden text as llama.cpp tokenizes the published
file, and predict the published file's next token for each golden prompt (unless
its two best logits are within 0.05). Prints what it finds; exits 1 on a failure.
"""

import json
import sys
from pathlib import Path

import numpy as np
from llama_cpp import Llama

GOLDEN_FILES = ["SmolLM2-135M-Instruct.Q4_1.jsonl", "gemma-3-270m-q4_k_m.jsonl"]


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def main():
    golden, ggufs = Path(sys.argv[1]), sys.argv[2:4]
    failures = 0
    for gguf, name in zip(ggufs, GOLDEN_FILES):
        llm = Llama(model_path=gguf, n_ctx=512, logits_all=True, verbose=False, n_threads=2)
        texts = read_jsonl(golden / "tokenizer" / name)
        same = sum(
            llm.tokenize(t["text"].encode(), add_bos=False, special=False) == t["ids"] for t in texts
        )
        print(f"{name}: {same}/{len(texts)} golden texts tokenized as the published file")
        failures += same != len(texts)
        for case in read_jsonl(golden / "logits" / name):
            ids = llm.tokenize(case["prompt"].encode(), add_bos=True, special=False)
            llm.reset()
            llm.eval(ids)
            logits = np.array(llm.eval_logits[-1])
            top = [int(i) for i in np.argsort(-logits)[:10]]
            expected, best = case["top10_ids"], case["top10_logits"]
            worst = max(abs(logits[i] - v) for i, v in zip(expected, best))
            tie = best[0] - best[1] < 0.05
            ok = ids == case["ids"] and (top[0] == expected[0] or tie)
            print(
                f"  {case['prompt'][:40]!r}: top-1 {top[0]} (published {expected[0]}), "
                f"top-10 overlap {len(set(top) & set(expected))}/10, "
                f"max |logit difference| {worst:.3f}{'' if ok else '  FAILED'}"
            )
            failures += not ok
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
