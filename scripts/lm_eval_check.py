"""Runs lm-evaluation-harness itself on general-ability files of
../shared/data/general-eval, with transformers loading the same GGUF f1ai
scores (dequantized to float32), and writes what it measured: acc, acc_norm
and every choice's log-likelihood, for f1ai's scorer to be checked against.

Usage: lm_eval_check.py GGUF GENERAL_EVAL_DIR OUT_JSON TASK...
Tasks use the harness's own prompts for ARC and PIQA (`Question: {q}\\nAnswer:`
and ` {choice}`) and HellaSwag's (the context, then ` {ending}`), as local
tasks over the JSONL files.
"""

import json
import sys
import tempfile
from pathlib import Path

import lm_eval
import torch
from lm_eval.models.huggingface import HFLM
from lm_eval.tasks import TaskManager
from transformers import AutoModelForCausalLM, AutoTokenizer

PROMPTS = {
    "arc_easy": "Question: {{question}}\nAnswer:",
    "arc_challenge": "Question: {{question}}\nAnswer:",
    "piqa": "Question: {{question}}\nAnswer:",
    "hellaswag": "{{question}}",
}


def task_yaml(name, path):
    return f"""task: f1ai_{name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {path}
test_split: test
output_type: multiple_choice
doc_to_text: {json.dumps(PROMPTS[name])}
doc_to_target: answer
doc_to_choice: choices
target_delimiter: " "
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
"""


def main():
    gguf, general_dir, out_json, *tasks = sys.argv[1:]
    gguf = Path(gguf)
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.eval()
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=16)
    with tempfile.TemporaryDirectory() as include:
        for name in tasks:
            data = Path(general_dir) / name / f"{name}.jsonl"
            (Path(include) / f"{name}.yaml").write_text(task_yaml(name, data))
        results = lm_eval.simple_evaluate(
            model=lm,
            tasks=[f"f1ai_{name}" for name in tasks],
            task_manager=TaskManager(include_path=include),
            log_samples=True,
        )
    report = {"lm_eval": lm_eval.__version__ if hasattr(lm_eval, "__version__") else "", "model": gguf.name, "tasks": {}}
    for name in tasks:
        key = f"f1ai_{name}"
        metrics = results["results"][key]
        samples = sorted(results["samples"][key], key=lambda s: s["doc_id"])
        report["tasks"][name] = {
            "n": len(samples),
            "acc": metrics["acc,none"],
            "acc_norm": metrics["acc_norm,none"],
            "ids": [s["doc"]["id"] for s in samples],
            "log_likelihoods": [[round(r[0][0], 5) for r in s["resps"]] for s in samples],
        }
        print(f"{name}: acc {metrics['acc,none'] * 100:.2f} acc_norm {metrics['acc_norm,none'] * 100:.2f} ({len(samples)})")
    Path(out_json).write_text(json.dumps(report, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
