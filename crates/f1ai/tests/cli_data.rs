//! `f1ai data ...` run as a user runs it: the real binary, real files, exit codes.

mod common;

use std::path::PathBuf;

use common::{ergast_dir, f1ai, fails_with, imported_workspace, stderr, stdout};

#[test]
fn import_then_stats() {
    let work = tempfile::tempdir().unwrap();
    let ergast = ergast_dir();
    let output = f1ai(
        work.path(),
        &["data", "import", "--ergast-dir", ergast.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("races                        1149"), "{out}");
    assert!(out.contains("results                     27118"), "{out}");
    assert!(out.contains("total violations: 0"), "{out}");
    for folder in [
        "data/raw",
        "data/curated",
        "models/base",
        "models/checkpoints",
        "results/reports",
    ] {
        assert!(work.path().join(folder).is_dir(), "{folder} not created");
    }

    let output = f1ai(work.path(), &["data", "stats"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("seasons:  1950 to 2025"), "{out}");
    assert!(out.contains("2025 round 18, Singapore Grand Prix"), "{out}");
    assert!(
        out.contains("complete seasons with champions: 75 (1950 to 2024)"),
        "{out}"
    );
}

#[test]
fn ergast_then_f1db_brings_the_knowledge_base_to_2026() {
    let work = tempfile::tempdir().unwrap();
    let (ergast, f1db) = (ergast_dir(), ergast_dir().with_file_name("f1db"));
    let output = f1ai(
        work.path(),
        &[
            "data",
            "import",
            "--ergast-dir",
            ergast.to_str().unwrap(),
            "--f1db",
            f1db.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.contains("reconciled 18 races both sources hold"),
        "{out}"
    );
    assert!(out.contains(" 0 disagreements, "), "{out}");
    assert!(out.contains("total violations: 0"), "{out}");
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(work.path().join("results/metrics/reconciliation.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["imported"], true);
    assert_eq!(report["reconciliation"]["races_compared"], 18);
    let explained = report["reconciliation"]["explained"].as_array().unwrap();
    assert!(!explained.is_empty());
    assert!(explained.iter().all(|d| d["explanation"].is_string()));

    let output = f1ai(work.path(), &["data", "stats"]);
    let out = stdout(&output);
    assert!(out.contains("seasons:  1950 to 2026"), "{out}");
    assert!(
        out.contains("latest race with results: 2026 round 11, Hungarian Grand Prix"),
        "{out}"
    );
    assert!(
        out.contains("complete seasons with champions: 76 (1950 to 2025)"),
        "{out}"
    );
}

#[test]
fn a_disagreement_between_the_sources_exits_non_zero_and_keeps_the_database() {
    let work = imported_workspace();
    let db = work.path().join("data/processed/f1.sqlite");
    let before = std::fs::read(&db).unwrap();
    // F1DB's reference tables and one 2025 race whose winner scored 26.
    let f1db = ergast_dir().with_file_name("f1db");
    let tree = tempfile::tempdir().unwrap();
    for folder in [
        "drivers",
        "constructors",
        "circuits",
        "grands-prix",
        "countries",
    ] {
        let target = tree.path().join(folder);
        std::fs::create_dir(&target).unwrap();
        for entry in std::fs::read_dir(f1db.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, target.join(path.file_name().unwrap())).unwrap();
        }
    }
    let race = "seasons/2025/races/05-saudi-arabia";
    std::fs::create_dir_all(tree.path().join(race)).unwrap();
    for file in ["race.yml", "race-results.yml"] {
        let text = std::fs::read_to_string(f1db.join(race).join(file)).unwrap();
        // Tsunoda retired after 1 lap; F1DB now says 2. (Planted points would
        // also contradict the standings, a failed integrity check.)
        let text = text.replacen("  laps: 1\n", "  laps: 2\n", 1);
        std::fs::write(tree.path().join(race).join(file), text).unwrap();
    }
    let output = f1ai(
        work.path(),
        &["data", "import", "--f1db", tree.path().to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(
        stdout(&output).contains(
            "2025 round 5, Yuki Tsunoda: results.laps is 1 in the knowledge base (Ergast), 2 in F1DB"
        ),
        "{}",
        stdout(&output)
    );
    assert!(stderr(&output).contains("--prefer"), "{}", stderr(&output));
    assert_eq!(std::fs::read(&db).unwrap(), before);

    let output = f1ai(
        work.path(),
        &[
            "data",
            "import",
            "--f1db",
            tree.path().to_str().unwrap(),
            "--prefer",
            "f1db",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("F1DB's value kept: 2025 round 5, Yuki Tsunoda"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn failed_import_exits_non_zero_and_keeps_the_database() {
    let work = imported_workspace();
    let db = work.path().join("data/processed/f1.sqlite");
    let before = std::fs::read(&db).unwrap();

    let empty = tempfile::tempdir().unwrap();
    let output = f1ai(
        work.path(),
        &[
            "data",
            "import",
            "--ergast-dir",
            empty.path().to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("missing table"), "{err}");
    assert!(err.contains("seasons.csv"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[test]
fn no_ergast_data_falls_back_with_a_notice() {
    let work = tempfile::tempdir().unwrap();
    let output = f1ai(work.path(), &["data", "import"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("using the embedded fallback fact set"));
    let output = f1ai(work.path(), &["data", "stats"]);
    let out = stdout(&output);
    assert!(out.contains("source:   fallback"), "{out}");
    assert!(out.contains("complete seasons with champions: 75"), "{out}");
}

/// With no tables to import, the fallback never silently replaces a database
/// built from real tables; `--fallback` says so explicitly.
#[test]
fn import_without_tables_keeps_a_real_database_unless_told() {
    let work = imported_workspace();
    let db = work.path().join("data/processed/f1.sqlite");
    let before = std::fs::read(&db).unwrap();
    let output = f1ai(work.path(), &["data", "import"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("it is kept"), "{err}");
    assert!(err.contains("--fallback"), "{err}");
    assert!(err.contains("f1.sqlite"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before);

    let output = f1ai(work.path(), &["data", "import", "--fallback"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&f1ai(work.path(), &["data", "stats"]));
    assert!(out.contains("source:   fallback"), "{out}");
    // A fallback database may be re-made from the fallback without the flag.
    let output = f1ai(work.path(), &["data", "import"]);
    assert!(output.status.success(), "{}", stderr(&output));
}

/// `.f1-import-*` files in the database's folder.
fn import_leftovers(processed: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(processed)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".f1-import-"))
        .collect()
}

/// An import killed (SIGKILL) while writing leaves its temporary database; the
/// next import removes it.
#[test]
fn a_killed_imports_leftover_is_removed_by_the_next_run() {
    let work = imported_workspace();
    let processed = work.path().join("data/processed");
    let db = processed.join("f1.sqlite");
    let before = std::fs::read(&db).unwrap();
    let ergast = ergast_dir();
    let mut killed = 0;
    for _ in 0..3 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_f1ai"))
            .arg("--workspace")
            .arg(work.path())
            .args(["data", "import", "--ergast-dir", ergast.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while import_leftovers(&processed).is_empty()
            && started.elapsed() < std::time::Duration::from_secs(60)
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        killed += 1;
    }
    assert_eq!(killed, 3);
    assert!(
        !import_leftovers(&processed).is_empty(),
        "the kills left nothing to clean up"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "a killed import changed the database"
    );

    let output = f1ai(
        work.path(),
        &["data", "import", "--ergast-dir", ergast.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(import_leftovers(&processed), Vec::<String>::new());
}

#[test]
fn fetch_without_a_database_says_what_to_do() {
    let work = tempfile::tempdir().unwrap();
    fails_with(
        work.path(),
        &["data", "fetch", "--season", "2020", "--round", "5"],
        1,
        "run `f1ai data import` first",
    );
}

#[test]
fn unknown_resource_is_a_usage_error() {
    let work = tempfile::tempdir().unwrap();
    fails_with(
        work.path(),
        &["data", "fetch", "--season", "2020", "--resources", "laps"],
        2,
        "unknown resource 'laps'",
    );
}

#[test]
fn build_writes_the_dataset_with_the_repository_config() {
    let work = imported_workspace();
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/data_config.yaml");
    let output = f1ai(
        work.path(),
        &["data", "build", "--config", config.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("leakage check passed"), "{out}");
    let curated = work.path().join("data/curated");
    for file in [
        "train.jsonl",
        "val.jsonl",
        "test.jsonl",
        "README.md",
        "stats.json",
    ] {
        assert!(curated.join(file).is_file(), "{file} missing");
    }
    // The grader takes every reference answer as right ("Ocon finished second ...,
    // behind the winner Verstappen" names the winner after the gold).
    let cases = f1_baseline::read_cases(&curated.join("test.jsonl")).unwrap();
    let entities = f1_baseline::family_entities(cases.iter());
    let wrong: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let verdict = case.grade(case.reference(), &entities[case.metadata.family.as_str()]);
            (!verdict.is_correct()).then(|| format!("{}: {verdict:?}", case.reference()))
        })
        .collect();
    assert!(
        cases.len() > 50 && wrong.is_empty(),
        "{} cases: {wrong:#?}",
        cases.len()
    );
}

#[test]
fn build_with_a_bad_config_fails_and_writes_nothing() {
    let work = imported_workspace();
    let config = work.path().join("bad.yaml");
    std::fs::write(&config, "families: [race_winner, fastest_tyre_change]\n").unwrap();
    let output = f1ai(
        work.path(),
        &["data", "build", "--config", config.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("bad.yaml"), "{err}");
    assert!(
        err.contains("unknown family 'fastest_tyre_change'"),
        "{err}"
    );
    let written = std::fs::read_dir(work.path().join("data/curated"))
        .unwrap()
        .count();
    assert_eq!(written, 0);
}

#[test]
fn build_without_a_database_says_what_to_do() {
    let work = tempfile::tempdir().unwrap();
    fails_with(
        work.path(),
        &["data", "build"],
        1,
        "run `f1ai data import` first",
    );
}

#[test]
fn scrape_rejects_a_bad_url_list_naming_the_line() {
    let work = tempfile::tempdir().unwrap();
    assert!(f1ai(work.path(), &["data", "import", "--fallback"])
        .status
        .success());
    let list = work.path().join("urls.txt");
    std::fs::write(
        &list,
        "# start pages\nhttp://127.0.0.1:9/a.html\n\nnot a url\n",
    )
    .unwrap();
    let output = f1ai(
        work.path(),
        &["data", "scrape", "--urls", list.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("urls.txt: line 4: invalid URL 'not a url'"),
        "{err}"
    );
}

#[test]
fn scrape_of_an_unreachable_host_skips_it_politely() {
    let work = tempfile::tempdir().unwrap();
    assert!(f1ai(work.path(), &["data", "import", "--fallback"])
        .status
        .success());
    // Port 9 (discard) has no server here: robots.txt is unreachable, so RFC 9309
    // says not to crawl, and the page is reported as skipped, not fetched.
    let output = f1ai(
        work.path(),
        &[
            "data",
            "scrape",
            "http://127.0.0.1:9/a.html",
            "--timeout-s",
            "2",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("kept 0 page(s)"), "{out}");
    assert!(
        out.contains("skipped http://127.0.0.1:9/a.html: disallowed by robots.txt"),
        "{out}"
    );
}

#[test]
fn models_fetch_verifies_and_lists() {
    let work = tempfile::tempdir().unwrap();
    let output = f1ai(work.path(), &["models", "fetch", "smollm2"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("verified"), "{}", stdout(&output));
    let file = work
        .path()
        .join("models/base/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(file.is_file());

    let again = f1ai(work.path(), &["models", "fetch", "smollm2"]);
    assert!(
        stdout(&again).contains("already there, verified"),
        "{}",
        stdout(&again)
    );

    let list = stdout(&f1ai(work.path(), &["models", "list"]));
    assert!(list.contains("smollm2    verified"), "{list}");
    assert!(list.contains("gemma3     missing"), "{list}");

    // A damaged file is reported, then replaced by a verified one.
    std::fs::write(&file, b"not a model").unwrap();
    assert!(stdout(&f1ai(work.path(), &["models", "list"])).contains("smollm2    corrupt"));
    assert!(f1ai(work.path(), &["models", "fetch", "smollm2"])
        .status
        .success());
    assert!(stdout(&f1ai(work.path(), &["models", "list"])).contains("smollm2    verified"));
}

#[test]
fn models_fetch_of_an_unknown_model_names_the_known_ones() {
    let work = tempfile::tempdir().unwrap();
    fails_with(
        work.path(),
        &["models", "fetch", "llama-70b"],
        1,
        "unknown model 'llama-70b' (known: smollm2, gemma3)",
    );
}

#[test]
fn update_refuses_a_bad_date_and_a_missing_database() {
    let work = tempfile::tempdir().unwrap();
    fails_with(
        work.path(),
        &["data", "update", "--until", "2026-07-26"],
        1,
        "run `f1ai data import` first",
    );
    let work = imported_workspace();
    fails_with(
        work.path(),
        &["data", "update", "--until", "26 July 2026"],
        1,
        "--until 26 July 2026: expected a date as YYYY-MM-DD",
    );
}
