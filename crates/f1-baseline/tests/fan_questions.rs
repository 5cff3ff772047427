//! The hand-written questions' gold, checked against the real tables (Ergast, then
//! F1DB through 2026 round 11, as the study imports them): each question's calls
//! run through the tools, and every gold entity must be in what they return and in
//! the reference answer.

use std::collections::BTreeMap;
use std::path::PathBuf;

use f1_baseline::fan_questions::{fan_questions, FanSet};
use f1_eval::facts::normalize;
use f1_tools::Toolbox;

fn shared_data() -> PathBuf {
    std::env::var_os("F1AI_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

#[test]
fn every_gold_answer_is_what_the_database_returns() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f1.sqlite");
    f1_data::import_ergast(&shared_data().join("ergast"), &db).unwrap();
    f1_data::f1db::import_f1db(&shared_data().join("f1db"), Some(&db), &db, None).unwrap();
    let toolbox = Toolbox::open(&db).unwrap();
    let questions = fan_questions().unwrap();
    let in_set = |set| questions.iter().filter(|q| q.set == set).count();
    assert_eq!(in_set(FanSet::Handwritten), 66);
    assert_eq!(in_set(FanSet::Blind), 46);
    assert_eq!(in_set(FanSet::Sealed), 43);

    let mut styles: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for q in &questions {
        *styles
            .entry((q.set.test_kind(), q.style.as_str()))
            .or_default() += 1;
        assert!(!q.calls.is_empty() && !q.gold.is_empty(), "{}", q.id);
        let mut results = String::new();
        for call in &q.calls {
            match toolbox.run(call) {
                Ok(value) => results.push_str(&value.to_string()),
                Err(e) => failures.push(format!("{}: {} failed: {e}", q.id, call.render())),
            }
        }
        let (results, reference) = (normalize(&results), normalize(&q.answer));
        for entity in &q.gold {
            let stated = |text: &str| entity.iter().any(|a| text.contains(&normalize(a)));
            if !stated(&results) {
                failures.push(format!("{}: {entity:?} not in the results {results}", q.id));
            }
            if !stated(&reference) {
                failures.push(format!("{}: {entity:?} not in the reference", q.id));
            }
        }
        let case = q.case(Some("system"));
        assert_eq!(case.metadata.test_kind.as_deref(), Some(q.set.test_kind()));
        assert_eq!(case.question(), q.question);
        assert_eq!(case.reference(), q.answer);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for set in FanSet::ALL {
        for style in [
            "colloquial",
            "misspelled",
            "nickname",
            "relative",
            "two-facts",
        ] {
            let key = (set.test_kind(), style);
            assert!(
                styles.get(&key).is_some_and(|n| *n >= 5),
                "{key:?}: {styles:?}"
            );
        }
    }
    let ids: std::collections::HashSet<&str> = questions.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(ids.len(), questions.len(), "ids are unique");
}

/// The grader takes each question's own reference answer as right: the gold
/// stated, and any other entity it names named by the question too ("Nico
/// Rosberg was Lewis Hamilton's teammate" for "who was hamilton's teammate").
#[test]
fn every_reference_answer_is_graded_right() {
    let cases: Vec<_> = fan_questions()
        .unwrap()
        .iter()
        .map(|q| q.case(None))
        .collect();
    let entities = f1_baseline::family_entities(cases.iter());
    let wrong: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let verdict = case.grade(case.reference(), &entities[case.metadata.family.as_str()]);
            (!verdict.is_correct()).then(|| format!("{}: {verdict:?}", case.metadata.id))
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}
