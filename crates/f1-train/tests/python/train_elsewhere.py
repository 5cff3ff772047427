"""Trains the study's data the way a user with a GPU cluster would, with the
Hugging Face stack (transformers + peft, plain PyTorch AdamW), for a few steps
on CPU: a LoRA adapter (PEFT's all-linear preset) or every weight. Saves the
result with save_pretrained and writes the trained model's logits for the given
token ids, so f1ai can be checked to load it exactly.

Usage: train_elsewhere.py lora|full MODEL_DIR TRAIN_JSONL IDS_JSON OUT_DIR
Writes OUT_DIR/model/ (the adapter or the whole model), OUT_DIR/logits.f32
(little-endian float32, tokens x vocab) and OUT_DIR/losses.json.
"""

import json
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

STEPS = 4
SYSTEM = "You are an expert on Formula 1 history and statistics. Answer the question accurately and concisely."


def conversations(path, tokenizer, count):
    rows = []
    for line in Path(path).read_text().splitlines()[:count]:
        messages = [{"role": "system", "content": SYSTEM}] + json.loads(line)["messages"]
        text = tokenizer.apply_chat_template(messages, tokenize=False)
        rows.append(tokenizer(text, return_tensors="pt")["input_ids"][0])
    return rows


def main():
    method, model_dir, train_jsonl, ids_json, out_dir = sys.argv[1:6]
    out = Path(out_dir)
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
        model = get_peft_model(model, config)
        learning_rate = 1e-3
    else:
        learning_rate = 5e-5
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate)
    model.train()
    losses = []
    for step, ids in enumerate(conversations(train_jsonl, tokenizer, STEPS)):
        loss = model(input_ids=ids[None], labels=ids[None]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    model.eval()
    model.save_pretrained(out / "model")
    if method == "full":
        tokenizer.save_pretrained(out / "model")
    with torch.no_grad():
        ids = json.loads(Path(ids_json).read_text())
        logits = model(input_ids=torch.tensor([ids])).logits[0]
    logits.to(torch.float32).numpy().astype("<f4").tofile(out / "logits.f32")
    (out / "losses.json").write_text(json.dumps(losses))


if __name__ == "__main__":
    main()
