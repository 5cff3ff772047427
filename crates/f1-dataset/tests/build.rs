//! The dataset built from the real Ergast tables: the issue's targets, determinism,
//! leakage, bad input, and the fallback fact set.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use f1_data::KnowledgeBase;
use f1_dataset::compose::check_leakage;
use f1_dataset::fan_wording::{CLOSERS, OPENERS};
use f1_dataset::{card, tool_use, DataConfig, Error};
use serde_json::Value;

fn ergast_dir() -> PathBuf {
    let data = std::env::var_os("F1AI_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    data.join("ergast")
}

/// The knowledge base imported once per test binary.
fn database() -> &'static Path {
    static DB: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DB.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("f1.sqlite");
        f1_data::import_ergast(&ergast_dir(), &db).unwrap();
        (dir, db)
    })
    .1
}

fn provenance() -> card::Provenance {
    card::Provenance {
        source: "ergast:test".into(),
        cutoff: "the 2025 Singapore Grand Prix".into(),
        tokens: None,
    }
}

fn build_into(dir: &Path, config: &DataConfig) -> f1_dataset::Result<()> {
    build_holding_out(dir, config, &HashSet::new())
}

/// A build whose training tool conversations may not hold `held_out_results`.
fn build_holding_out(
    dir: &Path,
    config: &DataConfig,
    held_out_results: &HashSet<String>,
) -> f1_dataset::Result<()> {
    let kb = KnowledgeBase::open(database())?;
    let splits = f1_dataset::build(&kb, config)?;
    let coverage = f1_dataset::tool_coverage(&kb, config)?;
    let toolbox = f1_tools::Toolbox::open(database()).unwrap();
    let seasons = f1_dataset::fan_wording::RelativeSeasons::of(&toolbox);
    let recent = f1_dataset::recent_coverage(&kb, config, seasons)?;
    let tools = tool_use::tool_splits(
        &splits,
        &tool_use::ToolData {
            toolbox: &toolbox,
            seed: config.seed,
            cutoff_season: 2025,
            coverage: &coverage,
            recent: &recent,
            fan_wording: config.tools.fan_wording,
            held_out_results,
        },
    );
    check_leakage(&tools)?;
    f1_dataset::write(&splits, &tools, config, &provenance(), dir)
}

/// The default quick build, written once per test binary.
fn quick_build() -> &'static Path {
    static BUILD: OnceLock<tempfile::TempDir> = OnceLock::new();
    BUILD
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            build_into(dir.path(), &DataConfig::default()).unwrap();
            dir
        })
        .path()
}

fn read_split(dir: &Path, split: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.join(format!("{split}.jsonl")))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn turns(example: &Value) -> &Vec<Value> {
    example["metadata"]["turns"].as_array().unwrap()
}

#[test]
fn quick_build_meets_the_targets() {
    let dir = quick_build();
    let (train, val, test) = (
        read_split(dir, "train"),
        read_split(dir, "val"),
        read_split(dir, "test"),
    );
    assert!(
        (1500..=3000).contains(&train.len()),
        "train: {}",
        train.len()
    );
    assert!(!val.is_empty());

    let all: Vec<&Value> = train.iter().chain(&val).chain(&test).collect();
    let families: BTreeSet<&str> = all
        .iter()
        .flat_map(|e| turns(e).iter().map(|t| t["family"].as_str().unwrap()))
        .collect();
    assert!(families.len() >= 20, "{} families", families.len());

    let multi = all.iter().filter(|e| turns(e).len() > 1).count();
    let share = multi as f64 / all.len() as f64;
    assert!(share >= 0.20, "multi-turn share {share}");
    assert!(all.iter().all(|e| (1..=3).contains(&turns(e).len())));
    for example in &all {
        let messages = example["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 2 * turns(example).len());
        for (i, m) in messages.iter().enumerate() {
            assert_eq!(m["role"], if i % 2 == 0 { "user" } else { "assistant" });
            assert!(!m["content"].as_str().unwrap().is_empty());
        }
    }

    let kinds: BTreeMap<&str, usize> = test.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(e["metadata"]["test_kind"].as_str().unwrap())
            .or_default() += 1;
        m
    });
    assert!(kinds["recall"] > 50 && kinds["unseen"] > 50, "{kinds:?}");

    // Both answer styles appear for every family that has a few examples.
    let mut styles: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for example in &all {
        for turn in turns(example) {
            styles
                .entry(turn["family"].as_str().unwrap())
                .or_default()
                .insert(turn["style"].as_str().unwrap());
        }
    }
    for (family, seen) in &styles {
        assert_eq!(seen.len(), 2, "{family} has styles {seen:?}");
    }

    // Metadata: gold with aliases, sources as table + key.
    let first = &train[0]["metadata"];
    assert!(!first["gold"][0]["aliases"].as_array().unwrap().is_empty());
    assert!(first["sources"][0]["table"].is_string());
    assert!(first["sources"][0]["key"].is_object());

    let card = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(card.contains("| race_winner |"), "card lists families");
    assert!(card.contains("Seed: 42"));
    assert!(card.contains("## Lengths"));
    assert!(
        card.matches("> **user:**").count() >= 2 * 20,
        "two examples per family"
    );
}

/// Every tool conversation: system prompt, then per turn the question, a valid
/// call, a result holding the gold answer, and the example's own answer.
#[test]
fn tool_conversations_are_grounded_in_their_results() {
    let dir = quick_build();
    let stats: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stats.json")).unwrap()).unwrap();
    let mut families = BTreeSet::new();
    for split in ["train", "val", "test"] {
        let plain = read_split(dir, split);
        let tools = read_split(dir, &format!("tools-{split}"));
        let answered = tools
            .iter()
            .filter(|e| e["metadata"]["family"] != "unanswerable")
            .count();
        assert!(
            answered * 10 >= plain.len() * 9,
            "{split}: {answered} of {}",
            plain.len()
        );
        assert_eq!(stats["tool_examples"][split], tools.len());
        for example in &tools {
            let messages = example["messages"].as_array().unwrap();
            assert_eq!(messages[0]["role"], "system");
            assert!(messages[0]["content"]
                .as_str()
                .unwrap()
                .contains("race_result(race, season?)"));
            if example["metadata"]["family"] == "unanswerable" {
                assert_eq!(split, "train");
                continue;
            }
            let turns = turns(example);
            let id = example["metadata"]["id"].as_str().unwrap();
            if id.ends_with(":pair") {
                assert_two_facts(example);
                continue;
            }
            if id.ends_with(":recovery") {
                continue; // its last four messages are its original's (see the recoveries test)
            }
            assert_eq!(
                roles_after_system(messages),
                ["user", "assistant", "tool", "assistant"].repeat(turns.len())
            );
            for (turn, chunk) in turns.iter().zip(messages[1..].chunks(4)) {
                let f1_tools::Reply::Call(call) =
                    f1_tools::parse_reply(chunk[1]["content"].as_str().unwrap())
                else {
                    panic!("not a call: {}", chunk[1]["content"]);
                };
                call.validate().unwrap();
                assert_eq!(serde_json::to_value(&call).unwrap(), turn["tool_call"]);
                let result = f1_eval::facts::normalize(chunk[2]["content"].as_str().unwrap());
                for gold in turn["gold"].as_array().unwrap() {
                    let aliases = gold["aliases"].as_array().unwrap();
                    assert!(
                        aliases
                            .iter()
                            .any(|a| result
                                .contains(&f1_eval::facts::normalize(a.as_str().unwrap()))),
                        "{}: {} not in {result}",
                        turn["fact_id"],
                        gold["text"]
                    );
                }
                families.insert(turn["family"].as_str().unwrap().to_string());
            }
        }
    }
    let all: BTreeSet<String> = f1_dataset::families::all()
        .map(|f| f.name.to_string())
        .collect();
    assert!(
        all.is_subset(&families),
        "no tool conversation for {:?}",
        all.difference(&families)
    );
    let unanswerable = stats["tool_examples"]["unanswerable"].as_u64().unwrap();
    assert!(unanswerable > 0);
    // Follow-ups repeat the first call: the subject comes from the earlier turn.
    let follow_ups: Vec<Value> = read_split(dir, "tools-train")
        .into_iter()
        .filter(|e| {
            e["metadata"]["id"]
                .as_str()
                .unwrap()
                .ends_with(":follow-up")
        })
        .collect();
    assert_eq!(stats["tool_examples"]["follow_ups"], follow_ups.len());
    assert!(!follow_ups.is_empty());
    // Every race winner asked on its own (one call, a result naming a second
    // driver) is followed by "who was second?".
    let follow_up_ids: HashMap<&str, &str> = follow_ups
        .iter()
        .map(|e| {
            (
                e["metadata"]["id"].as_str().unwrap(),
                e["metadata"]["family"].as_str().unwrap(),
            )
        })
        .collect();
    let winners: Vec<String> = read_split(dir, "tools-train")
        .iter()
        .filter(|e| {
            e["metadata"]["family"] == "race_winner"
                && roles_after_system(e["messages"].as_array().unwrap())
                    == ["user", "assistant", "tool", "assistant"]
                && serde_json::from_str::<Value>(e["messages"][3]["content"].as_str().unwrap())
                    .unwrap()
                    .pointer("/second/driver")
                    .is_some_and(Value::is_string)
        })
        .map(|e| format!("{}:follow-up", e["metadata"]["id"].as_str().unwrap()))
        .collect();
    assert!(!winners.is_empty());
    for id in &winners {
        assert_eq!(
            follow_up_ids.get(id.as_str()),
            Some(&"race_runner_up"),
            "{id}"
        );
    }
    for example in &follow_ups {
        let messages = example["messages"].as_array().unwrap();
        assert_eq!(messages[2]["content"], messages[6]["content"]);
        assert!(
            !messages[5]["content"].as_str().unwrap().contains("20"),
            "{}",
            messages[5]
        );
    }
}

/// The roles of a tool conversation's messages after its system prompt.
fn roles_after_system(messages: &[Value]) -> Vec<&str> {
    messages[1..]
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect()
}

/// A two-fact question: two valid calls, each followed by its result, then one
/// answer stating both facts' gold.
fn assert_two_facts(example: &Value) {
    let messages = example["messages"].as_array().unwrap();
    assert_eq!(
        roles_after_system(messages),
        [
            "user",
            "assistant",
            "tool",
            "assistant",
            "tool",
            "assistant"
        ]
    );
    for call in [&messages[2], &messages[4]] {
        let f1_tools::Reply::Call(call) = f1_tools::parse_reply(call["content"].as_str().unwrap())
        else {
            panic!("not a call: {call}");
        };
        call.validate().unwrap();
    }
    let answer = f1_eval::facts::normalize(messages[6]["content"].as_str().unwrap());
    let gold = example["metadata"]["gold"].as_array().unwrap();
    assert!(gold.len() >= 2);
    for entity in gold {
        assert!(
            entity["aliases"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| answer.contains(&f1_eval::facts::normalize(a.as_str().unwrap()))),
            "{answer} lacks {entity}"
        );
    }
}

/// The result of a conversation's `turn`-th lookup (None: no call).
fn tool_result(example: &Value, turn: usize) -> Option<&str> {
    let message = &example["messages"][3 + 4 * turn];
    (message["role"] == "tool").then(|| message["content"].as_str().unwrap())
}

/// The conversations by id.
fn by_id(examples: &[Value]) -> BTreeMap<&str, &Value> {
    examples
        .iter()
        .map(|e| (e["metadata"]["id"].as_str().unwrap(), e))
        .collect()
}

/// A fan's rewording asks the same lookup in other words: another question and
/// call text, the very same result and answer.
#[test]
fn fan_wording_changes_the_words_not_the_lookup() {
    let dir = quick_build();
    let train = read_split(dir, "tools-train");
    let by_id = by_id(&train);
    let mut reworded = 0;
    let mut forms = BTreeSet::new();
    let (mut opened, mut closed) = (0, 0);
    for (id, example) in &by_id {
        let Some(original) = id.strip_suffix(":fan") else {
            continue;
        };
        reworded += 1;
        let original = by_id[original];
        let (m, o) = (&example["messages"], &original["messages"]);
        assert_ne!(m[1]["content"], o[1]["content"], "{id}");
        let question = m[1]["content"].as_str().unwrap();
        opened += usize::from(OPENERS.iter().any(|w| question.starts_with(w)));
        closed += usize::from(CLOSERS.iter().any(|w| question.ends_with(w)));
        assert_eq!(m[3]["content"], o[3]["content"], "{id}");
        assert_eq!(m[4]["content"], o[4]["content"], "{id}");
        let f1_tools::Reply::Call(call) = f1_tools::parse_reply(m[2]["content"].as_str().unwrap())
        else {
            panic!("{id}: not a call");
        };
        call.validate().unwrap();
        for value in call.arguments.values() {
            if let Value::String(text) = value {
                forms.insert(text.to_lowercase());
            }
        }
    }
    let singles = train
        .iter()
        .filter(|e| turns(e).len() == 1 && e["metadata"]["family"] != "unanswerable")
        .count();
    assert!(reworded * 5 >= singles, "{reworded} of {singles} reworded");
    // Some open or close as messages do ("hey, ...", "... thanks"), most do not.
    assert!(
        opened > 0 && opened * 4 < reworded,
        "{opened} of {reworded} opened"
    );
    assert!(
        closed > 0 && closed * 4 < reworded,
        "{closed} of {reworded} closed"
    );
    let stats: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stats.json")).unwrap()).unwrap();
    assert_eq!(stats["tool_examples"]["fan_wording"], reworded);
    // Both of a season's titles in one question: one lookup, both champions named.
    let both: Vec<&&Value> = by_id
        .iter()
        .filter(|(id, _)| id.ends_with(":both"))
        .map(|(_, e)| e)
        .collect();
    assert_eq!(stats["tool_examples"]["both_titles"], both.len());
    assert!(!both.is_empty());
    for example in both {
        let golds = turns(example)[0]["gold"].as_array().unwrap();
        assert_eq!(golds.len(), 2, "{example}");
        let answer = example["messages"][4]["content"].as_str().unwrap();
        for gold in golds {
            assert!(answer.contains(gold["text"].as_str().unwrap()), "{answer}");
        }
    }
    // Races by place and year, relative seasons, drivers by part of their name.
    for wanted in [" 20", "last season", "finale"] {
        assert!(
            forms.iter().any(|f| f.contains(wanted)),
            "no argument with {wanted:?} among {} forms",
            forms.len()
        );
    }
}

/// A recovery: a conversation's question, a vague call (weight 0: context, not
/// learned) and its error, then the conversation's own call, result and answer.
#[test]
fn recoveries_read_an_error_and_call_again() {
    let dir = quick_build();
    let train = read_split(dir, "tools-train");
    let by_id = by_id(&train);
    let mut recoveries = 0;
    for (id, example) in &by_id {
        let Some(original) = id.strip_suffix(":recovery") else {
            continue;
        };
        recoveries += 1;
        let (m, o) = (
            example["messages"].as_array().unwrap(),
            by_id[original]["messages"].as_array().unwrap(),
        );
        assert_eq!(m.len(), 7, "{id}");
        assert_eq!(m[..2], o[..2], "{id}");
        assert_eq!(m[4..], o[2..], "{id}");
        assert_eq!(m[2]["role"], "assistant");
        assert_eq!(m[2]["weight"], 0, "{id}");
        assert!(m[4].get("weight").is_none(), "{id}");
        // The error as the tool loop shows it (cut to the result's length).
        let error = m[3]["content"].as_str().unwrap();
        assert!(
            error.starts_with(r#"{"error":"not_found""#)
                || error.starts_with(r#"{"error":"ambiguous""#),
            "{id}: {error}"
        );
        assert_ne!(m[2]["content"], m[4]["content"], "{id}");
    }
    assert!(recoveries >= 10, "{recoveries} recoveries");
    let stats: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stats.json")).unwrap()).unwrap();
    assert_eq!(stats["tool_examples"]["recoveries"], recoveries);
}

/// A data config naming two families still teaches every tool: the other
/// families' training facts, and every family's facts of the last and the
/// running season (asked as "last season" / "this season"), come in as tool
/// conversations, split by subject as the config's own facts are, so an unseen
/// test's lookup is never trained on; and a held-out lookup (the hand-written
/// questions') is in no training conversation.
#[test]
fn coverage_teaches_every_tool_without_touching_test_subjects() {
    let dir = tempfile::tempdir().unwrap();
    let config: DataConfig = serde_norway::from_str(
        "families: [race_winner, drivers_champion]\nfacts_per_family: {quick: 30, full: 0}\n\
         tools: {facts_per_family: 6, fan_wording: 0.5, recent_facts_per_family: 3}\n",
    )
    .unwrap();
    build_into(dir.path(), &config).unwrap();
    let train = read_split(dir.path(), "tools-train");
    let tools: BTreeSet<String> = train
        .iter()
        .flat_map(|e| turns(e).iter())
        .filter_map(|t| t["tool_call"]["name"].as_str().map(str::to_string))
        .collect();
    let all: BTreeSet<String> = f1_tools::spec::TOOLS
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    let untaught: Vec<&String> = all.difference(&tools).collect();
    let pairs = train
        .iter()
        .filter(|e| e["metadata"]["id"].as_str().unwrap().ends_with(":pair"))
        .count();
    assert!(pairs > 0, "no two-fact questions");
    assert!(
        untaught.is_empty(),
        "tools never called in training: {untaught:?}"
    );
    for words in ["last season", "this season"] {
        let calls = train
            .iter()
            .flat_map(|e| turns(e).iter())
            .filter(|t| {
                t["tool_call"]["arguments"].as_object().is_some_and(|a| {
                    a.values()
                        .any(|v| v.as_str().is_some_and(|v| v.contains(words)))
                })
            })
            .count();
        assert!(calls >= 5, "{calls} training calls say {words:?}");
    }
    let trained: HashSet<&str> = train
        .iter()
        .flat_map(|e| (0..turns(e).len()).filter_map(move |t| tool_result(e, t)))
        .collect();
    let tests = read_split(dir.path(), "tools-test");
    let unseen: Vec<&Value> = tests
        .iter()
        .filter(|e| e["metadata"]["test_kind"] == "unseen")
        .collect();
    assert!(!unseen.is_empty());
    for example in unseen {
        assert!(
            !trained.contains(tool_result(example, 0).unwrap()),
            "{} is unseen but training looks it up",
            example["metadata"]["id"]
        );
    }

    let held_out: HashSet<String> = train
        .iter()
        .filter(|e| turns(e).len() == 1 && e["metadata"]["family"] == "race_winner")
        .take(3)
        .map(|e| tool_result(e, 0).unwrap().to_string())
        .collect();
    let again = tempfile::tempdir().unwrap();
    build_holding_out(again.path(), &config, &held_out).unwrap();
    let kept = read_split(again.path(), "tools-train");
    assert!(kept.len() < train.len());
    for example in &kept {
        for t in 0..turns(example).len() {
            assert!(tool_result(example, t).is_none_or(|r| !held_out.contains(r)));
        }
    }
}

#[test]
fn every_family_has_four_phrasings() {
    for family in f1_dataset::families::all() {
        assert!(family.phrasings.len() >= 4, "{}", family.name);
    }
    assert!(f1_dataset::families::all().count() >= 20);
}

#[test]
fn test_questions_never_appear_in_training() {
    let dir = quick_build();
    let question = |e: &Value| {
        e["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "user")
            .map(|m| m["content"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let train = read_split(dir, "train");
    let train_questions: BTreeSet<String> = train.iter().map(question).collect();
    let train_facts: BTreeSet<&str> = train
        .iter()
        .flat_map(|e| turns(e).iter().map(|t| t["fact_id"].as_str().unwrap()))
        .collect();
    let test = read_split(dir, "test");
    for example in &test {
        assert!(!train_questions.contains(&question(example)));
        let facts: Vec<&str> = turns(example)
            .iter()
            .map(|t| t["fact_id"].as_str().unwrap())
            .collect();
        match example["metadata"]["test_kind"].as_str().unwrap() {
            "unseen" => assert!(facts.iter().all(|f| !train_facts.contains(f)), "{facts:?}"),
            _ => assert!(
                train_facts.contains(facts[0]),
                "recall fact {} not in train",
                facts[0]
            ),
        }
    }
}

#[test]
fn the_leakage_check_catches_planted_leaks() {
    let kb = KnowledgeBase::open(database()).unwrap();
    let config = DataConfig {
        families: Some(vec!["race_winner".into(), "drivers_champion".into()]),
        ..DataConfig::default()
    };
    let mut splits = f1_dataset::build(&kb, &config).unwrap();
    check_leakage(&splits).unwrap();

    // A training question copied into test.
    let mut copied = splits.train[0].clone();
    copied.metadata.split = f1_dataset::example::Split::Test;
    splits.test.push(copied);
    let error = check_leakage(&splits).unwrap_err();
    assert!(matches!(error, Error::Leakage(_)), "{error}");
    splits.test.pop();

    // An unseen test fact that training also asks about, in other words.
    let unseen = splits
        .test
        .iter()
        .find(|e| e.metadata.test_kind == Some(f1_dataset::example::TestKind::Unseen))
        .unwrap()
        .clone();
    let mut reworded = unseen.clone();
    reworded.messages[0]
        .content
        .push_str(" Please answer briefly.");
    reworded.metadata.split = f1_dataset::example::Split::Train;
    splits.train.push(reworded);
    let error = check_leakage(&splits).unwrap_err();
    assert!(error.to_string().contains("unseen-fact test"), "{error}");
}

#[test]
fn same_seed_gives_byte_identical_files_and_another_seed_does_not() {
    let again = tempfile::tempdir().unwrap();
    build_into(again.path(), &DataConfig::default()).unwrap();
    for file in [
        "train.jsonl",
        "val.jsonl",
        "test.jsonl",
        "README.md",
        "stats.json",
    ] {
        assert!(
            std::fs::read(quick_build().join(file)).unwrap()
                == std::fs::read(again.path().join(file)).unwrap(),
            "{file} differs between two builds with the same seed"
        );
    }
    let other = tempfile::tempdir().unwrap();
    build_into(
        other.path(),
        &DataConfig {
            seed: 7,
            ..DataConfig::default()
        },
    )
    .unwrap();
    assert_ne!(
        std::fs::read(quick_build().join("train.jsonl")).unwrap(),
        std::fs::read(other.path().join("train.jsonl")).unwrap()
    );
}

#[test]
fn an_empty_database_is_an_error_and_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("empty.sqlite");
    let (temp, conn) = f1_data::store::create_temp(&db).unwrap();
    f1_data::store::persist(temp, conn, &db).unwrap();
    let out = work.path().join("curated");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("train.jsonl"), "previous\n").unwrap();

    let kb = KnowledgeBase::open(&db).unwrap();
    let error = f1_dataset::build(&kb, &DataConfig::default()).unwrap_err();
    assert!(matches!(error, Error::Empty(_)), "{error}");
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["train.jsonl"], "nothing new written");
    assert_eq!(
        std::fs::read_to_string(out.join("train.jsonl")).unwrap(),
        "previous\n"
    );
}

#[test]
fn bad_configuration_names_the_problem() {
    let kb = KnowledgeBase::open(database()).unwrap();
    let unknown = DataConfig {
        families: Some(vec!["race_winner".into(), "best_haircut".into()]),
        ..DataConfig::default()
    };
    let error = f1_dataset::build(&kb, &unknown).unwrap_err();
    assert!(
        error.to_string().contains("unknown family 'best_haircut'"),
        "{error}"
    );

    let mut ratios = DataConfig::default();
    ratios.split.test = 0.3;
    let error = f1_dataset::build(&kb, &ratios).unwrap_err();
    assert!(error.to_string().contains("must sum to 1"), "{error}");

    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("data_config.yaml");
    std::fs::write(&path, "seed: 1\nsplit: {train: 0.9, val: 0.2, test: 0.1}\n").unwrap();
    let error = DataConfig::load(&path).unwrap_err();
    assert!(
        error.to_string().starts_with(&path.display().to_string()),
        "{error}"
    );
}

#[test]
fn the_fallback_fact_set_builds_champion_questions() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("fallback.sqlite");
    f1_data::fallback::import_fallback(&db).unwrap();
    let kb = KnowledgeBase::open(&db).unwrap();
    let splits = f1_dataset::build(&kb, &DataConfig::default()).unwrap();
    let families: BTreeSet<&str> = splits.all().map(|e| e.metadata.last.family).collect();
    assert_eq!(
        families,
        BTreeSet::from(["constructors_champion", "drivers_champion"])
    );
    let example = splits
        .all()
        .find(|e| e.metadata.last.fact_id == "drivers_champion:1976");
    if let Some(example) = example {
        assert!(example.messages[1].content.contains("James Hunt"));
    }
}

#[test]
fn multiple_choice_questions_have_the_gold_and_same_family_distractors() {
    let dir = quick_build();
    let questions =
        f1_eval::multiple_choice::read_questions(&dir.join(f1_dataset::MULTIPLE_CHOICE_FILE), 0)
            .unwrap();
    let test = read_split(dir, "test");
    let single_turn = test
        .iter()
        .filter(|e| {
            e["messages"].as_array().unwrap().len() == 2
                && e["metadata"]["gold"].as_array().unwrap().len() == 1
        })
        .count();
    assert!(
        questions.len() * 10 >= single_turn * 9,
        "{} questions from {single_turn} single-answer test questions",
        questions.len()
    );
    // Every family's answers anywhere in the dataset.
    let mut family_answers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for split in ["train", "val", "test"] {
        for example in read_split(dir, split) {
            for turn in turns(&example) {
                for gold in turn["gold"].as_array().unwrap() {
                    family_answers
                        .entry(turn["family"].as_str().unwrap().into())
                        .or_default()
                        .insert(gold["text"].as_str().unwrap().into());
                }
            }
        }
    }
    let by_id: BTreeMap<&str, &Value> = test
        .iter()
        .map(|e| (e["metadata"]["id"].as_str().unwrap(), e))
        .collect();
    let mut positions = [0usize; f1_dataset::multiple_choice::CHOICES];
    let mut families = BTreeSet::new();
    for q in &questions {
        let example = by_id[q.id.as_deref().unwrap()];
        let metadata = &example["metadata"];
        assert_eq!(
            q.question,
            example["messages"][0]["content"].as_str().unwrap()
        );
        assert_eq!(q.family.as_deref(), metadata["family"].as_str());
        assert_eq!(q.test_kind.as_deref(), metadata["test_kind"].as_str());
        assert_eq!(q.choices.len(), f1_dataset::multiple_choice::CHOICES);
        assert_eq!(
            q.choices[q.answer],
            metadata["gold"][0]["text"].as_str().unwrap()
        );
        let aliases: Vec<String> = metadata["gold"][0]["aliases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| f1_eval::facts::normalize(a.as_str().unwrap()))
            .collect();
        let known = &family_answers[q.family.as_deref().unwrap()];
        for (i, choice) in q.choices.iter().enumerate() {
            assert!(
                known.contains(choice),
                "{choice:?} is not a {:?} answer",
                q.family
            );
            if i != q.answer {
                let normalized = f1_eval::facts::normalize(choice);
                assert!(
                    !aliases.contains(&normalized),
                    "{choice:?} is the right answer"
                );
            }
        }
        positions[q.answer] += 1;
        families.insert(q.family.clone().unwrap());
    }
    // The right answer sits anywhere, about evenly.
    for count in positions {
        assert!(count * 8 > questions.len(), "{positions:?}");
    }
    assert!(families.len() >= 5, "{families:?}");
    let stats: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stats.json")).unwrap()).unwrap();
    assert_eq!(stats["multiple_choice"]["questions"], questions.len());
}

/// Each split's examples by the first fact they ask, with their question texts.
fn facts_of(examples: &[Value], kind: Option<&str>) -> BTreeMap<String, Vec<String>> {
    let mut facts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in examples {
        if kind.is_some_and(|k| e["metadata"]["test_kind"].as_str() != Some(k)) {
            continue;
        }
        facts
            .entry(e["metadata"]["fact_id"].as_str().unwrap().to_string())
            .or_default()
            .push(e["messages"][0]["content"].as_str().unwrap().to_string());
    }
    facts
}

#[test]
fn paraphrases_and_the_validation_probe_keep_phrasings_apart() {
    let families = vec!["race_winner".to_string(), "drivers_champion".to_string()];
    for shared in [false, true] {
        let config = DataConfig {
            families: Some(families.clone()),
            paraphrases_per_fact: 2,
            recall_fraction: 0.5,
            val_recall_fraction: 0.5,
            val_recall_from_test_facts: shared,
            multi_turn_fraction: 0.0,
            ..DataConfig::default()
        };
        let dir = tempfile::tempdir().unwrap();
        build_into(dir.path(), &config).unwrap();
        let (train, val, test) = (
            read_split(dir.path(), "train"),
            read_split(dir.path(), "val"),
            read_split(dir.path(), "test"),
        );
        let trained = facts_of(&train, None);
        // Every training fact in two phrasings, with both answer styles.
        for (fact, questions) in &trained {
            assert_eq!(questions.len(), 2, "{fact}: {questions:?}");
            assert_ne!(questions[0], questions[1], "{fact}");
        }
        let styles: BTreeSet<(&str, &str)> = train
            .iter()
            .map(|e| {
                (
                    e["metadata"]["fact_id"].as_str().unwrap(),
                    e["metadata"]["style"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(styles.len(), 2 * trained.len(), "short and full per fact");
        let recall = facts_of(&test, Some("recall"));
        let probe = facts_of(&val, Some("recall"));
        assert!(
            recall.len() > 20 && probe.len() > 20,
            "{} {}",
            recall.len(),
            probe.len()
        );
        for (fact, questions) in recall.iter().chain(&probe) {
            let taught = &trained[fact];
            assert!(
                !taught.contains(&questions[0]),
                "{fact}: a held-out phrasing"
            );
        }
        let overlap = probe.keys().filter(|f| recall.contains_key(*f)).count();
        if shared {
            // The probe asks the test's facts, in another held-out phrasing.
            assert_eq!(overlap, probe.len());
            for (fact, questions) in &probe {
                assert_ne!(questions[0], recall[fact][0], "{fact}");
            }
        } else {
            assert_eq!(overlap, 0, "the probe's facts are not the test's");
            assert!(
                (recall.len() as f64 / probe.len() as f64 - 1.0).abs() < 0.3,
                "half and half: {} and {}",
                recall.len(),
                probe.len()
            );
        }
        let stats: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("stats.json")).unwrap())
                .unwrap();
        assert_eq!(stats["paraphrases_per_fact"], 2);
        assert_eq!(stats["val_probe_questions"], probe.len());
    }
}

/// The quick profile's `future` tests: facts of the latest season in the data
/// (2025 in these Ergast tables), none of which training asks, nor any other fact
/// of that season; no training tool conversation holds one of their lookups.
#[test]
fn future_tests_ask_the_latest_season_which_training_never_touches() {
    let config_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/quick/data.yaml");
    let config = DataConfig::load(&config_path).unwrap();
    assert_eq!(config.future_facts_per_family, 5);
    let dir = tempfile::tempdir().unwrap();
    build_into(dir.path(), &config).unwrap();

    let test = read_split(dir.path(), "test");
    let future: Vec<&Value> = test
        .iter()
        .filter(|e| e["metadata"]["test_kind"] == "future")
        .collect();
    // Three of the eight families are about races; the other five have no
    // 2025 fact (no champion yet, or no season at all).
    assert_eq!(future.len(), 15, "{future:#?}");
    let question = |e: &Value| {
        let messages = e["messages"].as_array().unwrap();
        let user = messages.iter().find(|m| m["role"] == "user").unwrap();
        user["content"].as_str().unwrap().to_string()
    };
    assert!(
        future.iter().all(|e| question(e).contains("2025")),
        "{future:#?}"
    );
    let train = read_split(dir.path(), "train");
    assert!(!train.is_empty());
    let of_2025: Vec<String> = train
        .iter()
        .map(question)
        .filter(|q| q.contains("2025"))
        .collect();
    assert_eq!(of_2025, Vec::<String>::new());

    // The tool conversations: the future questions are in the test split, and
    // no training conversation asks their facts or holds their lookups.
    let tools_test = read_split(dir.path(), "tools-test");
    let future_tools: Vec<&Value> = tools_test
        .iter()
        .filter(|e| e["metadata"]["test_kind"] == "future")
        .collect();
    assert_eq!(future_tools.len(), 15);
    let results: HashSet<&str> = future_tools
        .iter()
        .flat_map(|e| e["messages"].as_array().unwrap())
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    let facts: HashSet<&str> = future_tools
        .iter()
        .map(|e| e["metadata"]["fact_id"].as_str().unwrap())
        .collect();
    for conversation in read_split(dir.path(), "tools-train") {
        for message in conversation["messages"].as_array().unwrap() {
            assert!(
                !(message["role"] == "tool"
                    && results.contains(message["content"].as_str().unwrap())),
                "{conversation}"
            );
        }
        for turn in conversation["metadata"]["turns"].as_array().unwrap() {
            assert!(
                !facts.contains(turn["fact_id"].as_str().unwrap()),
                "{conversation}"
            );
        }
    }
    let card = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
    assert!(card.contains("| test future |"), "{card}");
    let stats: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("stats.json")).unwrap()).unwrap();
    assert_eq!(stats["per_family"]["race_winner"]["test_future"], 5);
}
