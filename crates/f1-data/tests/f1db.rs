//! F1DB merged into the Ergast knowledge base: reconciliation on the real shared
//! data, the seasons it adds, planted disagreements, and bad input that must
//! leave the database byte-identical.

mod common;

use std::path::{Path, PathBuf};

use f1_data::f1db::{import_f1db, reconcile, Prefer};
use f1_data::{Error, KnowledgeBase};

fn f1db_dir() -> PathBuf {
    common::shared_data().join("f1db")
}

/// A fresh Ergast import to merge into.
fn ergast_db(dir: &Path) -> PathBuf {
    let db = dir.join("f1.sqlite");
    f1_data::import_ergast(&common::ergast_dir(), &db).unwrap();
    db
}

/// A copy of the shared F1DB tree that a test may damage.
fn f1db_copy() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let target = to.join(path.file_name().unwrap());
            if path.is_dir() {
                copy(&path, &target);
            } else {
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&f1db_dir(), dir.path());
    dir
}

/// Replaces the first `from` in `file` (which must hold it) with `to`.
fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

/// The one number `sql` selects (points are REAL; every value here is whole).
fn scalar(db: &Path, sql: &str) -> i64 {
    let conn = f1_data::rusqlite::Connection::open(db).unwrap();
    conn.query_row(sql, [], |r| r.get::<_, f64>(0)).unwrap() as i64
}

#[test]
fn ergast_then_f1db_reconciles_and_adds_the_2025_title_and_2026() {
    let dir = tempfile::tempdir().unwrap();
    let db = ergast_db(dir.path());
    let kb = KnowledgeBase::open(&db).unwrap();
    assert!(kb.season_champions(2025).unwrap().is_none());
    drop(kb);

    let import = import_f1db(&f1db_dir(), Some(&db), &db, None).unwrap();
    let report = &import.reconciliation;
    // 2025 rounds 1-18 are in both; every difference is a known convention.
    assert_eq!(report.races_compared, 18);
    assert!(report.rows_compared > 18 * 19, "{report:?}");
    assert!(report.standings_compared > 18 * 29, "{report:?}");
    assert_eq!(report.disagreements, vec![], "{report:#?}");
    assert!(report.explained.iter().all(|d| d.explanation.is_some()));
    let explained = |why: &str| {
        report
            .explained
            .iter()
            .filter(|d| d.explanation == Some(why))
            .count()
    };
    assert_eq!(explained(reconcile::DISQUALIFIED_LAPS), 3); // China: Leclerc, Hamilton, Gasly
    assert_eq!(explained(reconcile::NON_STARTER_LISTED), 1); // Stroll, Spain
    assert!(import.written.is_some());
    // Antonelli (F1DB `kimi-antonelli`) and Sainz ("Carlos Sainz Jr.") are the
    // drivers already there, not new ones.
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM drivers WHERE surname LIKE '%Antonelli%'"
        ),
        1
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM drivers WHERE surname LIKE 'Sainz%' AND dob = '1994-09-01'"
        ),
        1
    );
    assert!(import.matches.drivers_matched >= 20, "{:?}", import.matches);

    let kb = KnowledgeBase::open(&db).unwrap();
    let champions = kb.season_champions(2025).unwrap().unwrap();
    assert_eq!(champions.driver_name, "Lando Norris");
    assert_eq!(champions.constructor_name.as_deref(), Some("McLaren"));
    let latest = kb.latest_race_with_results().unwrap().unwrap();
    assert_eq!((latest.season, latest.round), (2026, 11));
    assert_eq!(latest.name, "Hungarian Grand Prix");
    // Final 2025 standings: Norris 423, McLaren 833 (F1DB's seasons/2025 files).
    assert_eq!(
        scalar(
            &db,
            "SELECT s.points FROM driver_standings s JOIN races r USING (race_id)
                    JOIN drivers d USING (driver_id)
                    WHERE r.year = 2025 AND r.round = 24 AND d.surname = 'Norris'"
        ),
        423
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT s.points FROM constructor_standings s JOIN races r USING (race_id)
                    WHERE r.year = 2025 AND r.round = 24 AND s.position = 1"
        ),
        833
    );
    // Wins counted into the standings: Norris won 7 Grands Prix in 2025.
    assert_eq!(
        scalar(
            &db,
            "SELECT s.wins FROM driver_standings s JOIN races r USING (race_id)
                    JOIN drivers d USING (driver_id)
                    WHERE r.year = 2025 AND r.round = 24 AND d.surname = 'Norris'"
        ),
        scalar(
            &db,
            "SELECT count(*) FROM results x JOIN races r USING (race_id)
                    JOIN drivers d USING (driver_id)
                    WHERE r.year = 2025 AND x.position = 1 AND d.surname = 'Norris'"
        )
    );
    // Pit stops of the races F1DB adds: durations, no time of day.
    assert!(
        scalar(
            &db,
            "SELECT count(*) FROM pit_stops p JOIN races r USING (race_id)
                     WHERE r.year = 2026 AND r.round = 11"
        ) > 20
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT p.milliseconds FROM pit_stops p JOIN races r USING (race_id)
                     JOIN drivers d USING (driver_id)
                     WHERE r.year = 2026 AND r.round = 11 AND d.surname = 'Stroll' AND p.stop = 1"
        ),
        21789
    );
    // The Ergast rows of the races both hold are kept as they were.
    assert_eq!(
        scalar(&db, "SELECT x.laps FROM results x JOIN races r USING (race_id) JOIN drivers d USING (driver_id)
                    WHERE r.year = 2025 AND r.round = 2 AND d.surname = 'Hamilton'"),
        0
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM results x JOIN races r USING (race_id) WHERE r.year = 2026"
        ),
        242
    );
}

#[test]
fn f1db_alone_builds_a_knowledge_base() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f1.sqlite");
    let import = import_f1db(&f1db_dir(), None, &db, None).unwrap();
    assert_eq!(import.reconciliation.races_compared, 0);
    assert_eq!(import.integrity.unwrap().violations(), 0);
    let kb = KnowledgeBase::open(&db).unwrap();
    assert_eq!(
        kb.season_champions(2025).unwrap().unwrap().driver_name,
        "Lando Norris"
    );
    assert_eq!(
        kb.source().unwrap().unwrap(),
        format!("f1db:{}", f1db_dir().display())
    );
}

#[test]
fn a_planted_disagreement_refuses_the_import_unless_a_source_is_preferred() {
    let tree = f1db_copy();
    // Saudi Arabia 2025: Tsunoda retired after 1 lap; plant 2. (A planted
    // points value would also fail the standings check.)
    let results = tree
        .path()
        .join("seasons/2025/races/05-saudi-arabia/race-results.yml");
    edit(&results, "  laps: 1\n", "  laps: 2\n");
    let dir = tempfile::tempdir().unwrap();
    let db = ergast_db(dir.path());
    let before = std::fs::read(&db).unwrap();

    let refused = import_f1db(tree.path(), Some(&db), &db, None).unwrap();
    assert!(refused.written.is_none());
    let d = &refused.reconciliation.disagreements;
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].race, "2025 round 5");
    assert_eq!(d[0].entry, "Yuki Tsunoda");
    assert_eq!(d[0].field, "results.laps");
    assert_eq!((d[0].ergast.as_str(), d[0].f1db.as_str()), ("1", "2"));
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "a refused import changed the database"
    );

    let laps =
        "SELECT x.laps FROM results x JOIN races r USING (race_id) JOIN drivers d USING (driver_id)
                  WHERE r.year = 2025 AND r.round = 5 AND d.surname = 'Tsunoda'";
    import_f1db(tree.path(), Some(&db), &db, Some(Prefer::Ergast)).unwrap();
    assert_eq!(scalar(&db, laps), 1);
    import_f1db(tree.path(), Some(&db), &db, Some(Prefer::F1db)).unwrap();
    assert_eq!(scalar(&db, laps), 2);
}

/// Preferring an F1DB value that its own standings contradict (Piastri's
/// Saudi Arabia 2025 win planted at 26 points) fails the standings check and
/// keeps the database.
#[test]
fn a_preferred_value_the_standings_contradict_is_refused() {
    let tree = f1db_copy();
    let results = tree
        .path()
        .join("seasons/2025/races/05-saudi-arabia/race-results.yml");
    edit(&results, "  points: 25\n", "  points: 26\n");
    let dir = tempfile::tempdir().unwrap();
    let db = ergast_db(dir.path());
    let before = std::fs::read(&db).unwrap();
    let error = import_f1db(tree.path(), Some(&db), &db, Some(Prefer::F1db)).unwrap_err();
    assert!(matches!(error, Error::Integrity(_)), "{error}");
    assert!(
        error
            .to_string()
            .contains("2025 piastri: standings 410.0, results 411.0"),
        "{error}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

/// Imports the damaged `tree`, expects an error naming `file` and `field`, and
/// checks that the database did not change.
fn assert_rejected(tree: &Path, file: &str, field: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f1.sqlite");
    import_f1db(&f1db_dir(), None, &db, None).unwrap();
    let before = std::fs::read(&db).unwrap();
    let error = import_f1db(tree, Some(&db), &db, None).unwrap_err();
    assert!(matches!(error, Error::Source { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains(file), "{message}");
    assert!(message.contains(field), "{message}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[test]
fn a_wrong_type_is_named_by_file_and_field() {
    let tree = f1db_copy();
    let file = tree
        .path()
        .join("seasons/2026/races/03-japan/race-results.yml");
    edit(&file, "  laps: ", "  laps: lots #");
    assert_rejected(tree.path(), "03-japan/race-results.yml", "laps");
}

#[test]
fn a_missing_field_is_named_by_file_and_field() {
    let tree = f1db_copy();
    let file = tree.path().join("drivers/lando-norris.yml");
    edit(&file, "lastName: Norris\n", "");
    assert_rejected(tree.path(), "lando-norris.yml", "lastName");
}

#[test]
fn an_unknown_reference_is_named() {
    let tree = f1db_copy();
    let file = tree
        .path()
        .join("seasons/2026/races/01-australia/race-results.yml");
    edit(&file, "driverId: lando-norris", "driverId: nobody-at-all");
    assert_rejected(tree.path(), "01-australia", "driverId");
}

#[test]
fn a_duplicate_race_is_named() {
    let tree = f1db_copy();
    let races = tree.path().join("seasons/2026/races");
    std::fs::create_dir(races.join("99-copy")).unwrap();
    std::fs::copy(
        races.join("02-china/race.yml"),
        races.join("99-copy/race.yml"),
    )
    .unwrap();
    assert_rejected(tree.path(), "race.yml", "round");
}
