//! `f1ai data augment`: an OpenAI-compatible endpoint rephrases single-turn
//! examples of a split and writes fuller answers; rewrites whose facts survive
//! go to data/curated/augmented-<split>.jsonl, the others (with the reason) to
//! augmented-<split>.rejected.jsonl. Both files are appended as it goes, so a
//! rerun continues where the last one stopped. Requests are rate-limited.

use std::collections::HashSet;
use std::io::Write;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use f1_dataset::augment::{self, Seed};
use f1_eval::judge::client::{Client, Endpoint};
use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use crate::cli::AugmentArgs;
use crate::workspace::Workspace;

/// Ids already handled by an earlier run: kept (by origin) or rejected.
fn done_ids(kept: &Path, rejected: &Path) -> Result<HashSet<String>> {
    let mut ids = HashSet::new();
    for (path, pointer) in [(kept, "/metadata/augmented_from"), (rejected, "/id")] {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        for line in text.lines() {
            // A line cut short by a kill is skipped and its example asked again.
            let Ok(value) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if let Some(id) = value.pointer(pointer).and_then(Value::as_str) {
                ids.insert(id.to_string());
            }
        }
    }
    Ok(ids)
}

fn append(path: &Path, value: &Value) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    // One write per line, so an interruption leaves whole lines (or one cut line).
    file.write_all(format!("{value}\n").as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

pub fn run(args: AugmentArgs, workspace: &Workspace) -> Result<()> {
    let split = workspace.curated().join(format!("{}.jsonl", args.split));
    let text = std::fs::read_to_string(&split)
        .with_context(|| format!("reading {} (run `f1ai data build` first)", split.display()))?;
    let mut examples = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let value: Value = serde_json::from_str(line)
            .with_context(|| format!("{} line {}", split.display(), i + 1))?;
        if let Some(seed) = Seed::from_example(&value) {
            examples.push((seed, value));
        }
    }
    ensure!(
        !examples.is_empty(),
        "{}: no single-turn examples to augment",
        split.display()
    );
    let examples = f1_baseline::spread(&examples, args.limit);
    let kept_path = workspace
        .curated()
        .join(format!("augmented-{}.jsonl", args.split));
    let rejected_path = workspace
        .curated()
        .join(format!("augmented-{}.rejected.jsonl", args.split));
    let done = done_ids(&kept_path, &rejected_path)?;
    let todo: Vec<_> = examples
        .into_iter()
        .filter(|(seed, _)| !done.contains(&seed.id))
        .collect();

    workspace.load_env_file()?;
    let client = Client::new(Endpoint {
        url: args.endpoint.clone(),
        model: args.model.clone(),
        api_key: std::env::var(&args.api_key_env).ok(),
        timeout: Duration::from_secs(args.timeout_s),
        max_tokens: args.max_tokens,
    })
    .map_err(anyhow::Error::msg)?;
    let Some(rpm) = NonZeroU32::new(args.rpm) else {
        bail!("--rpm must be at least 1");
    };
    let limiter = RateLimiter::direct(Quota::per_minute(rpm));
    let clock = DefaultClock::default();

    let progress = ProgressBar::new(todo.len() as u64).with_style(
        ProgressStyle::with_template("augment [{bar:30}] {pos}/{len} {msg} ETA {eta}")?
            .progress_chars("=> "),
    );
    let (mut kept, mut rejected) = (0usize, 0usize);
    for (seed, example) in &todo {
        while let Err(wait) = limiter.check() {
            std::thread::sleep(wait.wait_time_from(clock.now()));
        }
        let messages = seed.prompt();
        // A transport failure stops the run; what was written so far stays, and
        // a rerun continues from there.
        let reply = client
            .complete(&messages, args.temperature, args.seed)
            .map_err(anyhow::Error::msg)
            .with_context(|| {
                format!(
                    "asking for a rewrite of {} ({kept} kept, {rejected} rejected so far; rerun \
                     to continue)",
                    seed.id
                )
            })?;
        match seed.check(&reply) {
            Ok((question, answer)) => {
                append(&kept_path, &augment::augmented(example, &question, &answer))?;
                kept += 1;
            }
            Err(reason) => {
                append(
                    &rejected_path,
                    &json!({"id": seed.id, "reason": reason.to_string(), "reply": reply}),
                )?;
                rejected += 1;
            }
        }
        progress.set_message(format!("{kept} kept, {rejected} rejected"));
        progress.inc(1);
    }
    progress.finish_and_clear();
    println!(
        "{} requests: {kept} kept, {rejected} rejected ({} done earlier); kept in {}, \
         rejected with reasons in {}",
        todo.len(),
        done.len(),
        kept_path.display(),
        rejected_path.display()
    );
    Ok(())
}
