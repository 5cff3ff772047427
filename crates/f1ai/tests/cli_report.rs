//! `f1ai report` over results written as `eval` and `train` write them, and the
//! report opened in headless Chromium.

mod common;

use std::path::Path;
use std::process::Command;

use common::{f1ai, fails_with, stderr, stdout};
use serde_json::json;

const WINNERS: [&str; 4] = [
    "Max Verstappen",
    "Lewis Hamilton",
    "Fernando Alonso",
    "Nico Rosberg",
];

/// `n` answers of `model` with `method`, the first `right` of them stating the winner.
fn write_model_run(work: &Path, model: &str, method: &str, n: usize, right: usize) {
    write_named_run(work, &format!("{model}-{method}"), model, method, n, right);
}

/// [`write_model_run`] for the training run `name` (a second run of one method).
fn write_named_run(work: &Path, name: &str, model: &str, method: &str, n: usize, right: usize) {
    write_mode_run(work, name, model, method, "zero-shot", n, right);
}

/// [`write_named_run`] in `mode`; a tools run's answers each made one call, every
/// fifth of them not valid.
fn write_mode_run(
    work: &Path,
    name: &str,
    model: &str,
    method: &str,
    mode: &str,
    n: usize,
    right: usize,
) {
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let gold = WINNERS[i % 4];
            let answer = if i < right {
                format!("{gold} won the race.")
            } else {
                format!("<b>{}</b> won it.", WINNERS[(i + 1) % 4])
            };
            let mut prediction = json!({
                "id": format!("q{i}"), "model": model, "method": method, "mode": mode,
                "family": if i % 2 == 0 { "race_winner" } else { "drivers_champion" },
                "fact_id": format!("f{i}"), "test_kind": if i % 3 == 0 { "recall" } else { "unseen" },
                "question": format!("Who won race {i}?"), "reference": format!("{gold} won."),
                "prediction": answer, "gold": [{"text": gold, "aliases": [gold]}],
                "retrieved": [], "prompt_tokens": 30, "generated_tokens": 6, "latency_s": 0.5,
                "finish_reason": "stop", "run": name
            });
            if mode == "tools" {
                prediction["prompt_tokens"] = json!(400);
                prediction["latency_s"] = json!(2.0);
                let status = if i % 5 == 4 { "unknown_tool" } else { "ok" };
                prediction["tool_steps"] = json!([{
                    "call": r#"{"name": "race_result", "arguments": {"race": "x"}}"#,
                    "result": format!(r#"{{"winner": "{gold}"}}"#), "status": status
                }]);
                if i % 10 == 3 {
                    // The model's race not found; the loop's, from the question, found.
                    prediction["tool_steps"][0]["status"] = json!("not_found");
                    let steps = prediction["tool_steps"].as_array_mut().unwrap();
                    steps.push(json!({
                        "call": r#"{"name": "race_result", "arguments": {"race": "y"}}"#,
                        "result": format!(r#"{{"winner": "{gold}"}}"#), "status": "ok",
                        "from_question": true
                    }));
                }
            }
            prediction.to_string()
        })
        .collect();
    let dir = work.join("results/predictions");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}-{mode}.jsonl")), lines.join("\n")).unwrap();
}

fn write_run(work: &Path, method: &str, n: usize, right: usize) {
    write_model_run(work, "smollm2", method, n, right);
}

/// A training run's summary and step log, as `f1ai train` writes them.
fn write_training(work: &Path, method: &str, minutes: f64, peak_mib: f64, trainable: usize) {
    let name = format!("smollm2-{method}");
    write_named_training(work, &name, method, minutes, peak_mib, trainable);
}

/// [`write_training`] for the run `name`.
fn write_named_training(
    work: &Path,
    name: &str,
    method: &str,
    minutes: f64,
    peak_mib: f64,
    trainable: usize,
) {
    let dir = work.join(format!("models/artifacts/{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let summary = json!({
        "run_name": name, "model": "smollm2", "method": method,
        "steps": 40, "epochs_started": 1, "tokens_seen": 20000, "wall_seconds": minutes * 60.0,
        "tokens_per_second": 80.0, "trainable_parameters": trainable,
        "total_parameters": 134515008, "peak_rss_mib": peak_mib, "first_loss": 2.1,
        "final_loss": 1.0, "initial_val_loss": 2.15, "final_val_loss": 1.1,
        "best_val_loss": 1.1, "exported_step": 40, "stopped_early": false
    });
    std::fs::write(dir.join("training_summary.json"), summary.to_string()).unwrap();
    let log: Vec<String> = (1..=40)
        .map(|step| {
            let mut record = json!({
                "step": step, "epoch": 0, "loss": 2.2 - step as f64 * 0.025,
                "learning_rate": 1e-4, "grad_norm": 0.8, "tokens_per_second": 80.0,
                "rss_mib": peak_mib
            });
            if step % 10 == 0 {
                record["val_loss"] = json!(2.15 - step as f64 * 0.02);
            }
            record.to_string()
        })
        .collect();
    std::fs::write(dir.join("training_log.jsonl"), log.join("\n")).unwrap();
}

/// Share of pixels that are not (near) white in a PNG.
fn ink(png_path: &Path) -> f64 {
    let decoder = png::Decoder::new(std::fs::File::open(png_path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).unwrap();
    let channels = info.color_type.samples();
    let pixels = buffer[..info.buffer_size()].chunks(channels);
    let total = pixels.len();
    let inked = pixels.filter(|p| p[..3].iter().any(|&c| c < 230)).count();
    inked as f64 / total as f64
}

#[test]
fn writes_charts_findings_and_a_page_chromium_draws() {
    let work = tempfile::tempdir().unwrap();
    write_run(work.path(), "base", 40, 4);
    write_run(work.path(), "lora", 40, 12);
    write_run(work.path(), "full", 40, 36);
    // A model with only a baseline comes first and must not hide the examples.
    write_model_run(work.path(), "gemma3", "base", 40, 8);
    write_training(work.path(), "lora", 10.0, 2048.0, 1_843_200);
    write_training(work.path(), "full", 30.0, 6144.0, 134_515_008);
    // A second LoRA run at LoRA's cost and accuracy: its labels land on LoRA's
    // unless the charts move them apart (the browser checks they do not overlap).
    write_named_run(work.path(), "smollm2-lora-r64", "smollm2", "lora", 40, 12);
    write_named_training(
        work.path(),
        "smollm2-lora-r64",
        "lora",
        10.0,
        2048.0,
        7_372_800,
    );
    let eval = f1ai(work.path(), &["eval"]);
    assert!(eval.status.success(), "{}", stderr(&eval));

    let output = f1ai(work.path(), &["report"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    // The findings follow the numbers: full is far ahead of LoRA here, at 3x the time.
    assert!(text.contains("full fine-tuning 90.0% ["), "{text}");
    assert!(
        text.contains("Was full fine-tuning worth it over LoRA? On fact accuracy, yes: +60.0 points (p = 0.002) at 3.0x LoRA's training time."),
        "{text}"
    );
    assert!(
        text.contains("3.0x the time and 3.0x the memory of LoRA"),
        "{text}"
    );

    let charts = work.path().join("results/visualizations");
    for name in [
        "loss-curves",
        "fact-accuracy",
        "bleu",
        "rouge-1",
        "rouge-2",
        "rouge-l",
        "quality-vs-time",
        "quality-vs-memory",
        "accuracy-by-family",
    ] {
        let png = charts.join(format!("{name}.png"));
        assert!(ink(&png) > 0.01, "{name}.png is blank");
        let svg = std::fs::read_to_string(charts.join(format!("{name}.svg"))).unwrap();
        assert!(svg.starts_with("<svg"), "{name}.svg");
    }
    // No judge or perplexity results: no chart pretends to show them.
    assert!(!charts.join("judge-ratings.svg").exists());
    assert!(!charts.join("perplexity.svg").exists());

    let reports = work.path().join("results/reports");
    let html = std::fs::read_to_string(reports.join("report.html")).unwrap();
    assert!(
        html.contains("&lt;b&gt;"),
        "the answers' markup must be escaped"
    );
    assert!(!html.contains("<b>"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    let markdown = std::fs::read_to_string(reports.join("report.md")).unwrap();
    assert!(markdown.contains("![Fact accuracy per run](../visualizations/fact-accuracy.png)"));
    assert!(
        markdown.contains("| smollm2-full-zero-shot | 40 | 90.0 ["),
        "{markdown}"
    );

    let browser = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm install --prefix {}` (scripts/test.sh does)",
        browser.display()
    );
    let screenshot = work.path().join("report.png");
    let rendered = Command::new("node")
        .arg(browser.join("report.mjs"))
        .arg(reports.join("report.html"))
        .arg(&screenshot)
        .output()
        .unwrap();
    assert!(
        rendered.status.success(),
        "{}\n{}",
        stdout(&rendered),
        stderr(&rendered)
    );
    let seen: serde_json::Value = serde_json::from_str(stdout(&rendered).trim()).unwrap();
    assert_eq!(seen["charts"].as_array().unwrap().len(), 9, "{seen}");
    let findings: Vec<&str> = seen["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(findings[0].starts_with("Recall: on the 14 facts"), "{seen}");
    assert!(
        findings[0].contains("smollm2-full (full fine-tuning) +84.6 points"),
        "the unseen verdict follows the numbers: {seen}"
    );
    assert!(
        findings.iter().any(|f| f.contains("fact accuracy")),
        "{seen}"
    );
    assert!(ink(&screenshot) > 0.05, "the screenshot is nearly blank");
    let labels = seen["labels"]["quality-vs-time"].to_string();
    for run in [
        "smollm2 base",
        "smollm2-lora",
        "smollm2-lora-r64",
        "smollm2-full",
    ] {
        assert!(
            labels.contains(&format!("\"{run}\"")),
            "{run} has no label: {labels}"
        );
    }
    assert!(!charts.join("multiple-choice.svg").exists());
}

#[test]
fn multiple_choice_results_get_a_sentence_and_a_chart() {
    let work = tempfile::tempdir().unwrap();
    write_run(work.path(), "base", 8, 2);
    write_run(work.path(), "lora", 8, 4);
    let eval = f1ai(work.path(), &["eval"]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    // multiple_choice.json as `f1ai eval --multiple-choice` writes it.
    let metrics = |acc: f64| {
        let interval = |v: f64| json!({"value": v, "low": v - 0.1, "high": v + 0.1});
        json!({"metrics": {"n": 50, "acc": interval(acc), "acc_norm": interval(acc - 0.02),
               "chance": 0.25, "by_family": {}, "by_test_kind": {}}, "per_question": []})
    };
    let report = json!({"file": "mc.jsonl", "format": "chat", "questions": 50,
        "models": {"smollm2": metrics(0.3), "smollm2-lora": metrics(0.46)}, "comparisons": []});
    std::fs::write(
        work.path().join("results/metrics/multiple_choice.json"),
        report.to_string(),
    )
    .unwrap();
    let output = f1ai(work.path(), &["report"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains(
            "Multiple choice by log-likelihood (50 questions, chance 25%), accuracy %: \
             the base model 30.0 [20.0, 40.0]; LoRA 46.0 [36.0, 56.0]."
        ),
        "{}",
        stdout(&output)
    );
    let charts = work.path().join("results/visualizations");
    assert!(ink(&charts.join("multiple-choice.png")) > 0.01);
    let svg = std::fs::read_to_string(charts.join("multiple-choice.svg")).unwrap();
    assert!(svg.contains("smollm2-lora"), "{svg}");
}

#[test]
fn without_eval_results_it_says_what_to_run() {
    let work = tempfile::tempdir().unwrap();
    fails_with(
        work.path(),
        &["report"],
        1,
        "run `f1ai eval` before `f1ai report`",
    );
}

#[test]
fn a_broken_training_log_is_named() {
    let work = tempfile::tempdir().unwrap();
    write_run(work.path(), "base", 8, 2);
    write_run(work.path(), "lora", 8, 4);
    write_training(work.path(), "lora", 1.0, 1024.0, 1000);
    let log = work
        .path()
        .join("models/artifacts/smollm2-lora/training_log.jsonl");
    std::fs::write(&log, "{\"step\": 1, \"loss\": \"high\"}\n").unwrap();
    let eval = f1ai(work.path(), &["eval"]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    fails_with(work.path(), &["report"], 1, "training_log.jsonl");
    assert!(!work.path().join("results/reports/report.html").exists());
}

/// A training run with the validation probe at every tenth step, as `f1ai
/// train` with a probe writes it.
fn write_probed_training(work: &Path, method: &str, minutes: f64, final_recall: f64) {
    write_training(work, method, minutes, 2048.0, 1_000_000);
    let dir = work.join(format!("models/artifacts/smollm2-{method}"));
    let log: Vec<String> = (1..=40)
        .map(|step| {
            let mut record = json!({
                "step": step, "epoch": 0, "loss": 1.0, "learning_rate": 1e-4, "grad_norm": 0.8,
                "tokens_per_second": 80.0, "rss_mib": 2048.0, "tokens_seen": step * 500,
                "step_seconds": minutes * 60.0 * step as f64 / 40.0
            });
            if step % 10 == 0 {
                record["val_loss"] = json!(1.5);
                record["probe_recall"] = json!(0.1 + (final_recall - 0.1) * step as f64 / 40.0);
                record["probe_unseen"] = json!(0.1);
                record["general"] = json!(0.5 - 0.001 * step as f64);
            }
            record.to_string()
        })
        .collect();
    std::fs::write(dir.join("training_log.jsonl"), log.join("\n")).unwrap();
    std::fs::write(
        dir.join("initial_validation.json"),
        json!({"loss": 2.0, "probe": {"recall": 0.1, "unseen": 0.1}, "general": 0.5}).to_string(),
    )
    .unwrap();
}

#[test]
fn the_study_question_is_answered_from_its_numbers() {
    let work = tempfile::tempdir().unwrap();
    write_run(work.path(), "base", 60, 6);
    write_run(work.path(), "lora", 60, 30);
    write_run(work.path(), "full", 60, 54);
    write_probed_training(work.path(), "lora", 4.0, 0.5);
    write_probed_training(work.path(), "full", 8.0, 0.9);
    let eval = f1ai(work.path(), &["eval"]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    // general.json as `f1ai eval --general` writes it.
    let interval = |v: f64, half: f64| json!({"value": v, "low": v - half, "high": v + half});
    let task = |acc: f64| {
        json!({"metrics": {"n": 25, "acc": interval(acc, 0.1), "acc_norm": interval(acc, 0.1),
               "chance": 0.25, "by_family": {}, "by_test_kind": {}}, "correct_norm": []})
    };
    let model =
        |score: f64| json!({"score": score, "tasks": {"arc_easy": task(0.5), "piqa": task(0.6)}});
    let forgetting = |run: &str, drop: f64, p: f64| {
        json!({"model": run, "base": "smollm2", "method": "x",
               "forgetting": {"drop": interval(drop, 1.0), "p": p}})
    };
    let general = json!({
        "dir": "general-eval", "per_task": 25, "tasks": ["arc_easy", "piqa"],
        "models": {"smollm2": model(55.0), "smollm2-lora": model(54.5), "smollm2-full": model(50.0)},
        "forgetting": [forgetting("smollm2-lora", 0.5, 0.6), forgetting("smollm2-full", 5.0, 0.004)]
    });
    std::fs::write(
        work.path().join("results/metrics/general.json"),
        general.to_string(),
    )
    .unwrap();

    let output = f1ai(work.path(), &["report"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    // Recall questions are every third: 20 of them, base 2 right (i = 0, 3).
    assert!(
        text.contains("Recall: on the 20 facts training taught, asked in a phrasing it never used, the base model was right on 10.0%"),
        "{text}"
    );
    assert!(
        text.contains("smollm2-full (full fine-tuning) 90.0% (+80.0 points ["),
        "{text}"
    );
    assert!(text.contains("learned the most facts per minute"), "{text}");
    assert!(
        text.contains("the base model scored 55.0; change after fine-tuning: smollm2-full (full fine-tuning) lost 5.0 points [4.0, 6.0] (p = 0.004); smollm2-lora (LoRA) no measurable change (-0.5 points [-1.5, 0.5], p = 0.600)"),
        "{text}"
    );
    assert!(
        text.contains("full fine-tuning learned more facts than LoRA (+40.0 points"),
        "{text}"
    );
    assert!(
        text.contains("LoRA forgot less (the intervals do not overlap)"),
        "{text}"
    );

    let charts = work.path().join("results/visualizations");
    for name in [
        "learning-curves",
        "forgetting-curves",
        "learning-vs-forgetting",
    ] {
        assert!(
            ink(&charts.join(format!("{name}.png"))) > 0.01,
            "{name}.png is blank"
        );
        let mode = |ext: &str| {
            use std::os::unix::fs::PermissionsExt;
            let path = charts.join(format!("{name}.{ext}"));
            std::fs::metadata(path).unwrap().permissions().mode()
        };
        assert_eq!(mode("png"), mode("svg"), "{name}: the PNG is as readable");
        let svg = std::fs::read_to_string(charts.join(format!("{name}.svg"))).unwrap();
        assert!(
            svg.contains("smollm2-full") && svg.contains("smollm2-lora"),
            "{name}"
        );
    }
    let html = std::fs::read_to_string(work.path().join("results/reports/report.html")).unwrap();
    assert!(html.contains("General ability and forgetting"));
}

/// The three arms of 60 questions each: the base model unaided (6 right) and with
/// retrieval (24), LoRA unaided (30) and LoRA calling the tools (57), with
/// LoRA's training summary.
fn write_three_arms(work: &Path) {
    write_run(work, "base", 60, 6);
    write_mode_run(work, "smollm2-base", "smollm2", "base", "rag", 60, 24);
    write_run(work, "lora", 60, 30);
    write_mode_run(
        work,
        "smollm2-lora-tools",
        "smollm2",
        "lora",
        "tools",
        60,
        57,
    );
    write_training(work, "lora", 4.0, 2048.0, 1_000_000);
}

/// Runs `f1ai eval`, then `f1ai report`, and returns the report's stdout.
fn evaluate_and_report(work: &Path) -> String {
    let eval = f1ai(work, &["eval"]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let output = f1ai(work, &["report"]);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

/// The three-arms table's row of `arm` in report.md.
fn arms_row<'a>(page: &'a str, arm: &str) -> &'a str {
    let start = format!("| {arm} |");
    page.lines()
        .find(|l| l.starts_with(&start))
        .unwrap_or_else(|| panic!("no {arm} row in {page}"))
}

/// Replaces one answer of a predictions file.
fn rewrite_answer(work: &Path, file: &str, id: &str, answer: &str) {
    let path = work.join("results/predictions").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let mut row: serde_json::Value = serde_json::from_str(line).unwrap();
            if row["id"] == id {
                row["prediction"] = json!(answer);
            }
            row.to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
}

/// Gives question `q<i>` of every predictions file the test kind `kind(i)`
/// returns, where it returns one.
fn retag(work: &Path, kind: impl Fn(usize) -> Option<&'static str>) {
    for entry in std::fs::read_dir(work.join("results/predictions")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<String> = text
            .lines()
            .map(|line| {
                let mut row: serde_json::Value = serde_json::from_str(line).unwrap();
                let i: usize = row["id"].as_str().unwrap()[1..].parse().unwrap();
                if let Some(kind) = kind(i) {
                    row["test_kind"] = json!(kind);
                }
                row.to_string()
            })
            .collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
    }
}

#[test]
fn the_three_arms_are_compared_with_call_validity_and_latency() {
    let work = tempfile::tempdir().unwrap();
    write_three_arms(work.path());
    // One of the tools run's three wrong answers states the winner (Alonso) and
    // hedges with another winner of the family.
    rewrite_answer(
        work.path(),
        "smollm2-lora-tools-tools.jsonl",
        "q58",
        "Fernando Alonso, or maybe Max Verstappen.",
    );
    let text = evaluate_and_report(work.path());
    // Recall is every third question: 20; tools wrong on q57..q59, one recall
    // (q57), so 19 of 20; retrieval right on q0..q23: 8 of 20; LoRA 10 of 20.
    assert!(
        text.contains(
            "the run fine-tuned to call the knowledge base's tools (smollm2-lora-tools-tools) \
             was right on 95.0% of the recall facts and 95.0% of the unseen ones; against \
             retrieval, recall +55.0 points ["
        ),
        "{text}"
    );
    assert!(
        text.contains("against its best unaided fine-tuned run, recall +45.0 points ["),
        "{text}"
    );
    assert!(
        text.contains(
            "Of its 3 wrong answers, 1 stated the right one but named another of its family as \
             an answer too, which the grader counts wrong; read leniently it was right on 96.7% ["
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "60 of its 60 answers made a call and 48 of those first calls were valid (80.0%). \
             In 6 answers the model's call found no race and the loop looked up the one the \
             question names."
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "Each answer took 2.00 s against 0.50 s unaided (400 prompt tokens against 30"
        ),
        "{text}"
    );
    let page = std::fs::read_to_string(work.path().join("results/reports/report.md")).unwrap();
    assert!(page.contains("Three ways to answer"), "{page}");
    assert!(
        page.contains(
            "| tools (fine-tuned to call) | smollm2-lora-tools-tools | 95.0% (20) | 95.0% (40) |"
        ),
        "{page}"
    );
    assert!(page.contains("| 48 of 60 | 400 | 2.00 |"), "{page}");
    let tools_row = arms_row(&page, "tools (fine-tuned to call)");
    assert!(
        tools_row.contains("| 95.0% [") && tools_row.contains("| 96.7% ["),
        "{tools_row}"
    );
    assert!(
        page.contains("| fact accuracy % | states gold % |"),
        "{page}"
    );
}

/// A summary written before the lenient reading was scored still reports: its
/// cells read "-" and no sentence claims a count.
#[test]
fn a_summary_without_the_lenient_reading_still_reports() {
    let work = tempfile::tempdir().unwrap();
    write_three_arms(work.path());
    let eval = f1ai(work.path(), &["eval"]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let path = work.path().join("results/metrics/summary.json");
    let mut summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for run in summary["runs"].as_object_mut().unwrap().values_mut() {
        assert!(run.as_object_mut().unwrap().remove("gold_stated").is_some());
        for kind in run["by_test_kind"].as_object_mut().unwrap().values_mut() {
            kind.as_object_mut().unwrap().remove("gold_stated");
        }
    }
    std::fs::write(&path, summary.to_string()).unwrap();
    let output = f1ai(work.path(), &["report"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stdout(&output).contains("read leniently"));
    let page = std::fs::read_to_string(work.path().join("results/reports/report.md")).unwrap();
    let tools_row = arms_row(&page, "tools (fine-tuned to call)");
    assert!(tools_row.contains("] | - | 48 of 60 |"), "{tools_row}");
}

/// The latest season's questions (`test_kind: future`) get their own column and
/// sentence: here q55, q56, q58 and q59 of the arms above, the tools run right on
/// the first two.
#[test]
fn future_questions_are_reported_beside_recall_and_unseen() {
    let work = tempfile::tempdir().unwrap();
    write_three_arms(work.path());
    retag(work.path(), |i| {
        (i >= 54 && !i.is_multiple_of(3)).then_some("future")
    });
    let text = evaluate_and_report(work.path());
    assert!(
        text.contains(
            "100.0% of the unseen ones and 50.0% of the 4 from the latest season (after training)"
        ),
        "{text}"
    );
    let page = std::fs::read_to_string(work.path().join("results/reports/report.md")).unwrap();
    assert!(
        page.contains("| recall | unseen | future | hand-written |"),
        "{page}"
    );
    assert!(
        page.contains("| smollm2-lora-tools-tools | 95.0% (20) | 100.0% (36) | 50.0% (4) |"),
        "{page}"
    );
}

/// The three sets of hand-written questions get a column each and a clause in
/// the tools sentence: here q40..q49 (the tools run right on all), q50..q54 (right
/// on all) and q55..q59 (wrong on q57..q59), with paired comparisons on each.
#[test]
fn hand_written_blind_and_sealed_questions_are_reported_apart() {
    let work = tempfile::tempdir().unwrap();
    write_three_arms(work.path());
    retag(work.path(), |i| match i {
        40..=49 => Some("handwritten"),
        50..=54 => Some("blind"),
        55..=59 => Some("sealed"),
        _ => None,
    });
    let text = evaluate_and_report(work.path());
    assert!(
        text.contains(
            "100.0% of the 10 questions written by hand, 100.0% of the 5 written blind to \
             the fan wording it was trained on and 40.0% of the 5 sealed before the changes \
             made from the blind ones' misses"
        ),
        "{text}"
    );
    for kind in ["handwritten", "blind", "sealed"] {
        assert!(text.contains(&format!("{kind} +")), "{kind}: {text}");
    }
    let page = std::fs::read_to_string(work.path().join("results/reports/report.md")).unwrap();
    assert!(
        page.contains("| recall | unseen | future | hand-written | written blind | sealed |"),
        "{page}"
    );
    let tools_row = arms_row(&page, "tools (fine-tuned to call)");
    assert!(
        tools_row.contains("| - | 100.0% (10) | 100.0% (5) | 40.0% (5) |"),
        "{tools_row}"
    );
}
