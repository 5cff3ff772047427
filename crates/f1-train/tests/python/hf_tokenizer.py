"""Loads a Hugging Face folder's tokenizer with transformers' AutoTokenizer and
writes what it makes of each text and of one conversation.

Usage: hf_tokenizer.py MODEL_DIR TEXTS_JSONL OUT_JSON
TEXTS_JSONL has one {"text": ...} per line. OUT_JSON gets {"ids": [[...], ...]}
(each text without special tokens added), "prompt" (the chat template rendered
with the generation prompt) and "prompt_ids" (that prompt tokenized).
"""

import json
import sys
from pathlib import Path

from transformers import AutoTokenizer


def main():
    model_dir, texts_jsonl, out_json = sys.argv[1:4]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts = [json.loads(line)["text"] for line in Path(texts_jsonl).read_text().splitlines()]
    ids = [tokenizer.encode(text, add_special_tokens=False) for text in texts]
    messages = [
        {"role": "system", "content": "You are an F1 expert."},
        {"role": "user", "content": "Who won the 2021 title?"},
    ]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
    Path(out_json).write_text(json.dumps({"ids": ids, "prompt": prompt, "prompt_ids": prompt_ids}))


if __name__ == "__main__":
    main()
