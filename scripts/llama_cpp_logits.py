"""llama.cpp's top-10 next-token logits for golden-corpus texts, as a test fixture.

Usage: $(scripts/llama-cpp-env.sh) scripts/llama_cpp_logits.py MODEL.gguf CORPUS.jsonl INDEX... > OUT.jsonl
CORPUS.jsonl is ../shared/golden/tokenizer/<model>.jsonl ({"text", "ids"} per line).
For each chosen line, llama.cpp (llama-cpp-python, default settings as the golden
logits were made: f16 KV cache, no flash attention, 2 threads) scores the text's
tokens after the BOS token twice: the whole prompt in one batch ("batch"), and one
token at a time as decoding feeds them ("step"). Writes one JSON line per text and
mode: {"model", "mode", "prompt", "ids", "top10_ids", "top10_logits"}.
"""

import json
import sys
from pathlib import Path

from llama_cpp import Llama


def top10(llm, ids, batches):
    llm.reset()
    for batch in batches:
        llm.eval(batch)
    scores = llm.scores[len(ids) - 1]
    top = sorted(range(len(scores)), key=lambda i: -scores[i])[:10]
    return top, [float(scores[i]) for i in top]


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    gguf, corpus, indices = sys.argv[1], sys.argv[2], [int(i) for i in sys.argv[3:]]
    rows = [json.loads(line) for line in Path(corpus).read_text().splitlines()]
    llm = Llama(model_path=gguf, n_threads=2, n_ctx=512, verbose=False,
                logits_all=True, seed=0)
    for index in indices:
        text = rows[index]["text"]
        ids = llm.tokenize(text.encode(), add_bos=True, special=False)
        for mode, batches in (("batch", [ids]), ("step", [[t] for t in ids])):
            top, logits = top10(llm, ids, batches)
            print(json.dumps({"model": Path(gguf).name, "mode": mode, "prompt": text,
                              "ids": ids, "top10_ids": top, "top10_logits": logits}))


if __name__ == "__main__":
    main()
