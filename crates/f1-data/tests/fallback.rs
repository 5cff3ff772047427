//! The embedded champions, cross-checked against the Ergast data.

mod common;

use f1_data::{fallback, KnowledgeBase};

#[test]
fn every_embedded_fact_matches_the_ergast_data() {
    let kb = KnowledgeBase::open(&common::imported_db()).unwrap();
    let derived = kb.all_champions().unwrap();
    assert_eq!(derived.len(), fallback::CHAMPIONS.len());
    for (&(season, driver, constructor), from_data) in fallback::CHAMPIONS.iter().zip(&derived) {
        assert_eq!(season, from_data.season);
        assert_eq!(driver, from_data.driver_name, "{season} drivers' champion");
        assert_eq!(
            constructor,
            from_data.constructor_name.as_deref(),
            "{season} constructors' champion"
        );
    }
}

#[test]
fn fallback_database_answers_champion_queries() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f1.sqlite");
    assert_eq!(
        fallback::import_fallback(&db).unwrap(),
        fallback::CHAMPIONS.len()
    );
    let kb = KnowledgeBase::open(&db).unwrap();
    assert_eq!(kb.source().unwrap().as_deref(), Some("fallback"));
    let c = kb.season_champions(1976).unwrap().unwrap();
    assert_eq!(c.driver_name, "James Hunt");
    assert_eq!(c.constructor_name.as_deref(), Some("Ferrari"));
    assert!(
        kb.race(1976, 1).unwrap().is_none(),
        "the fallback has no race data"
    );
}
