//! The grounded F1 instruction dataset: question families over the knowledge base,
//! multi-turn conversations, leak-free recall/unseen splits and a dataset card.

pub mod augment;
pub mod card;
pub mod compose;
pub mod config;
pub mod corpus;
mod error;
pub mod example;
pub mod fact;
pub mod families;
pub mod fan_wording;
pub mod keyed;
pub mod lookup;
pub mod multiple_choice;
pub mod recovery;
pub mod text;
pub mod tool_use;

use std::path::Path;

use f1_data::KnowledgeBase;
use indicatif::{ProgressBar, ProgressStyle};

pub use compose::Splits;
pub use config::DataConfig;
pub use error::{Error, Result};

use compose::FamilyFacts;
use families::FactContext;
use keyed::Keyed;

/// Derives every selected family's facts, applies the profile's cap and composes the
/// splits. Fails when the knowledge base yields no facts or the splits leak.
pub fn build(kb: &KnowledgeBase, config: &DataConfig) -> Result<Splits> {
    build_where(kb, config, |_| true)
}

/// [`build`] over the facts `keep` accepts (the cap applies after it).
fn build_where(
    kb: &KnowledgeBase,
    config: &DataConfig,
    keep: impl Fn(&fact::Fact) -> bool,
) -> Result<Splits> {
    config.validate("configuration")?;
    let ctx = FactContext::load(kb)?;
    let selected = config.selected_families();
    let progress = ProgressBar::new(selected.len() as u64).with_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    progress.set_prefix("facts");
    // Follow-ups come from other families' facts, so those are derived too.
    let mut needed: Vec<&'static families::Family> = selected.clone();
    for family in &selected {
        for target in families::links::targets(family.name) {
            let target = families::by_name(target).expect("links name known families");
            if !needed.iter().any(|f| f.name == target.name) {
                needed.push(target);
            }
        }
    }
    progress.set_length(needed.len() as u64);
    let mut derived: Vec<(&'static families::Family, Vec<fact::Fact>)> = Vec::new();
    for family in needed {
        progress.set_message(family.name);
        let started = std::time::Instant::now();
        let facts = (family.facts)(&ctx)?;
        tracing::debug!(family = family.name, found = facts.len(), elapsed = ?started.elapsed(), "facts");
        if facts.is_empty() {
            tracing::warn!(family = family.name, "no facts in this knowledge base");
        }
        derived.push((family, facts));
        progress.inc(1);
    }
    let by_id: std::collections::HashMap<String, fact::Fact> = derived
        .iter()
        .flat_map(|(_, facts)| facts.iter().map(|f| (f.id.clone(), f.clone())))
        .collect();
    let keyed = Keyed::new(config.seed);
    // The latest season's facts are asked only as `future` tests, when asked for.
    let future_season = match config.future_facts_per_family {
        0 => None,
        _ => kb.latest_race_with_results()?.map(|race| race.season),
    };
    let mut families = Vec::new();
    for (family, mut facts) in derived {
        facts.retain(&keep);
        if !selected.iter().any(|f| f.name == family.name) || facts.is_empty() {
            continue;
        }
        let (mut future, mut facts): (Vec<_>, Vec<_>) = facts
            .into_iter()
            .partition(|f| future_season.is_some() && f.season() == future_season);
        if let Some(cap) = config.fact_cap() {
            keyed.shuffle(&mut facts, |f| format!("cap\u{1f}{}", f.id));
            facts.truncate(cap);
        }
        keyed.shuffle(&mut future, |f| format!("future\u{1f}{}", f.id));
        future.truncate(config.future_facts_per_family);
        families::links::attach(family.name, &mut facts, &by_id);
        families.push(FamilyFacts {
            family,
            facts,
            future,
        });
    }
    progress.finish_and_clear();
    if families.is_empty() {
        return Err(Error::Empty(
            "the knowledge base has no rows any selected family can use; run `f1ai data import` first"
                .into(),
        ));
    }
    compose::compose(&families, config)
}

/// Training examples of every family a tool answers that `config` leaves out,
/// `config.tools.facts_per_family` facts each, so the assistant learns every tool.
/// They are split as `config` splits its own facts (by subject, same seed), and
/// only the training ones are kept: a subject held out for the test stays unseen.
pub fn tool_coverage(kb: &KnowledgeBase, config: &DataConfig) -> Result<Vec<example::Example>> {
    let selected = config.selected_families();
    let missing: Vec<String> = tool_families()
        .filter(|f| !selected.iter().any(|s| s.name == f.name))
        .map(|f| f.name.to_string())
        .collect();
    coverage_build(kb, config, missing, config.tools.facts_per_family, |_| true)
}

/// Training examples of every family a tool answers,
/// `config.tools.recent_facts_per_family` facts each, about the last complete
/// season or the running one: the seasons fans call "last season" and "this
/// season" (as the tools' resolver reads them). Split as [`tool_coverage`]'s are.
pub fn recent_coverage(
    kb: &KnowledgeBase,
    config: &DataConfig,
    seasons: fan_wording::RelativeSeasons,
) -> Result<Vec<example::Example>> {
    let recent = [seasons.last, seasons.this];
    let all = tool_families().map(|f| f.name.to_string()).collect();
    coverage_build(
        kb,
        config,
        all,
        config.tools.recent_facts_per_family,
        |fact| recent.contains(&fact.season()),
    )
}

fn tool_families() -> impl Iterator<Item = &'static families::Family> {
    families::all().filter(|f| lookup::tool_for(f.name).is_some())
}

/// One phrasing of up to `per_family` facts of each of `families` that `keep`
/// accepts, split as `config` splits, training examples only.
fn coverage_build(
    kb: &KnowledgeBase,
    config: &DataConfig,
    families: Vec<String>,
    per_family: usize,
    keep: impl Fn(&fact::Fact) -> bool,
) -> Result<Vec<example::Example>> {
    if per_family == 0 || families.is_empty() {
        return Ok(Vec::new());
    }
    let coverage = DataConfig {
        profile: config::Profile::Quick,
        facts_per_family: config::FactsPerFamily {
            quick: per_family,
            full: per_family,
        },
        paraphrases_per_fact: 1,
        recall_fraction: 0.0,
        val_recall_fraction: 0.0,
        val_recall_from_test_facts: false,
        multi_turn_fraction: 0.0,
        families: Some(families),
        // Tool training may use the latest season; `tool_splits` keeps the
        // future tests' facts and lookups out of it.
        future_facts_per_family: 0,
        ..config.clone()
    };
    match build_where(kb, &coverage, keep) {
        Ok(splits) => Ok(splits.train),
        // A small knowledge base may hold no fact of these families.
        Err(Error::Empty(_)) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Training conversations per tool (of their first call).
fn tool_counts(train: &[example::Example]) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for example in train {
        if let Some(call) = example
            .metadata
            .turns
            .first()
            .and_then(|t| t.tool_call.as_ref())
        {
            *counts.entry(call.name.clone()).or_default() += 1;
        }
    }
    counts
}

/// The multiple-choice questions `write` puts beside the splits.
pub const MULTIPLE_CHOICE_FILE: &str = "multiple_choice-test.jsonl";

/// Writes train/val/test.jsonl, their tool conversations (tools-train.jsonl...),
/// the multiple-choice questions, the dataset card and stats.json into `dir`.
/// Every file goes to a temp file first; nothing is renamed into place until all
/// are written.
pub fn write(
    splits: &Splits,
    tools: &Splits,
    config: &DataConfig,
    provenance: &card::Provenance,
    dir: &Path,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut staged = Vec::new();
    for (name, examples) in [
        ("train.jsonl", &splits.train),
        ("val.jsonl", &splits.val),
        ("test.jsonl", &splits.test),
        ("tools-train.jsonl", &tools.train),
        ("tools-val.jsonl", &tools.val),
        ("tools-test.jsonl", &tools.test),
    ] {
        let mut bytes = Vec::new();
        for example in examples {
            serde_json::to_writer(&mut bytes, example).expect("examples serialize");
            bytes.push(b'\n');
        }
        staged.push((name, bytes));
    }
    let questions = multiple_choice::from_splits(splits, config.seed);
    let mut bytes = Vec::new();
    for question in &questions {
        serde_json::to_writer(&mut bytes, question).expect("questions serialize");
        bytes.push(b'\n');
    }
    staged.push((MULTIPLE_CHOICE_FILE, bytes));
    staged.push((
        "README.md",
        card::render(splits, config, provenance).into_bytes(),
    ));
    staged.push((
        "stats.json",
        stats_json(splits, tools, config, provenance, questions.len()),
    ));

    let files: Vec<_> = staged
        .into_iter()
        .map(|(name, bytes)| (dir.join(name), bytes))
        .collect();
    Ok(f1_files::write_all(&files)?)
}

fn stats_json(
    splits: &Splits,
    tools: &Splits,
    config: &DataConfig,
    provenance: &card::Provenance,
    multiple_choice: usize,
) -> Vec<u8> {
    let (questions, answers) = card::turn_lengths(splits);
    let counts = compose::counts(splits);
    let all_families: std::collections::BTreeSet<&str> = splits
        .all()
        .flat_map(|e| e.metadata.turns.iter().map(|t| t.family))
        .collect();
    let stats = serde_json::json!({
        "seed": config.seed,
        "profile": format!("{:?}", config.profile).to_lowercase(),
        "source": provenance.source,
        "cutoff": provenance.cutoff,
        "examples": {"train": splits.train.len(), "val": splits.val.len(), "test": splits.test.len()},
        "tool_examples": {"train": tools.train.len(), "val": tools.val.len(), "test": tools.test.len(),
                          "unanswerable": tools.train.iter().filter(|e| e.metadata.last.family == "unanswerable").count(),
                          "follow_ups": tools.train.iter().filter(|e| e.metadata.id.ends_with(":follow-up")).count(),
                          "fan_wording": tools.train.iter().filter(|e| e.metadata.id.ends_with(":fan")).count(),
                          "two_facts": tools.train.iter().filter(|e| e.metadata.id.ends_with(":pair")).count(),
                          "both_titles": tools.train.iter().filter(|e| e.metadata.id.ends_with(":both")).count(),
                          "recoveries": tools.train.iter().filter(|e| e.metadata.id.ends_with(":recovery")).count(),
                          "tools": tool_counts(&tools.train)},
        "paraphrases_per_fact": config.paraphrases_per_fact,
        "future_season": splits.test.iter().find(|e| e.metadata.test_kind == Some(example::TestKind::Future)).map(|_| provenance.cutoff.clone()),
        "val_probe_questions": splits.val.iter().filter(|e| e.metadata.test_kind.is_some()).count(),
        "multiple_choice": {"file": MULTIPLE_CHOICE_FILE, "questions": multiple_choice,
                            "choices": multiple_choice::CHOICES},
        "multi_turn_share": {
            "train": card::multi_turn_share(&splits.train),
            "val": card::multi_turn_share(&splits.val),
            "test": card::multi_turn_share(&splits.test),
        },
        "families": all_families,
        "per_family": counts.iter().map(|(f, [train, val, recall, unseen, future])| {
            (f.to_string(), serde_json::json!({"train": train, "val": val, "test_recall": recall, "test_unseen": unseen, "test_future": future}))
        }).collect::<serde_json::Map<_, _>>(),
        "question_words": questions,
        "answer_words": answers,
        "tokens": provenance.tokens,
        "leakage_check": "passed",
    });
    let mut bytes = serde_json::to_vec_pretty(&stats).expect("stats serialize");
    bytes.push(b'\n');
    bytes
}
