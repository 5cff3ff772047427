//! The Ergast import on the real tables, and every kind of bad input.

mod common;

use std::path::Path;

use f1_data::Error;

#[test]
fn real_tables_import_with_zero_violations() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("processed/f1.sqlite");
    let summary = f1_data::import_ergast(&common::ergast_dir(), &db).unwrap();
    let count = |t: &str| {
        summary
            .integrity
            .row_counts
            .iter()
            .find(|(name, _)| *name == t)
            .unwrap()
            .1
    };
    assert_eq!(count("races"), 1149);
    assert_eq!(count("results"), 27118);
    assert_eq!(count("drivers"), 864);
    assert_eq!(count("pit_stops"), 12016);
    assert_eq!(summary.integrity.violations(), 0, "{:?}", summary.integrity);
    assert_eq!(summary.integrity.shared_drives, 85);
    assert!(db.is_file());
    assert_no_temp_files(db.parent().unwrap());
}

/// Copies the real tables to a temp dir so one of them can be damaged.
fn damaged_copy(file: &str, damage: impl FnOnce(Vec<u8>) -> Vec<u8>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(common::ergast_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "csv") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let target = dir.path().join(file);
    let bytes = std::fs::read(&target).unwrap();
    std::fs::write(&target, damage(bytes)).unwrap();
    dir
}

/// Replaces line `n` (1-based) of a CSV file.
fn replace_line(bytes: Vec<u8>, n: usize, with: &[u8]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    lines[n - 1] = with.to_vec();
    lines.join(&b'\n')
}

/// Imports a damaged copy over a good database; the error must leave it untouched.
fn import_fails_leaving_previous(dir: &Path) -> Error {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("f1.sqlite");
    std::fs::copy(common::imported_db(), &db).unwrap();
    let before = std::fs::read(&db).unwrap();
    let error = f1_data::import_ergast(dir, &db).expect_err("damaged input must fail");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "previous database changed"
    );
    assert_no_temp_files(work.path());
    error
}

fn assert_no_temp_files(dir: &Path) {
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temp files left behind: {leftovers:?}"
    );
}

#[test]
fn missing_table_is_named() {
    let dir = damaged_copy("status.csv", |b| b);
    std::fs::remove_file(dir.path().join("status.csv")).unwrap();
    let error = import_fails_leaving_previous(dir.path());
    assert!(matches!(error, Error::MissingTable { .. }), "{error}");
    assert!(error.to_string().contains("status.csv"), "{error}");
}

#[test]
fn wrong_header_names_the_column() {
    let dir = damaged_copy("drivers.csv", |b| {
        replace_line(
            b,
            1,
            b"driverId,driverRef,number,code,firstname,surname,dob,nationality,url",
        )
    });
    let error = import_fails_leaving_previous(dir.path());
    let message = error.to_string();
    assert!(matches!(error, Error::Header { .. }), "{message}");
    assert!(message.contains("drivers.csv"), "{message}");
    assert!(message.contains("'firstname'"), "{message}");
}

#[test]
fn malformed_row_names_file_and_line() {
    let dir = damaged_copy("results.csv", |b| replace_line(b, 42, b"41,19,12,4,\"17"));
    let error = import_fails_leaving_previous(dir.path());
    let message = error.to_string();
    assert!(matches!(error, Error::Row { line: 42, .. }), "{message}");
    assert!(message.contains("results.csv: line 42"), "{message}");
}

#[test]
fn extra_fields_are_malformed() {
    let dir = damaged_copy("status.csv", |b| {
        replace_line(b, 3, b"2,\"Disqualified\",extra")
    });
    let error = import_fails_leaving_previous(dir.path());
    assert!(matches!(error, Error::Row { line: 3, .. }), "{error}");
}

#[test]
fn invalid_utf8_names_line_and_column() {
    let dir = damaged_copy("drivers.csv", |b| {
        replace_line(b, 5, b"4,\"alonso\",14,\"ALO\",\"Fern\xff\xfendo\",\"Alonso\",\"1981-07-29\",\"Spanish\",\"http://en.wikipedia.org/wiki/Fernando_Alonso\"")
    });
    let error = import_fails_leaving_previous(dir.path());
    let message = error.to_string();
    assert!(
        matches!(&error, Error::Field { line: 5, column, .. } if column == "forename"),
        "{message}"
    );
    assert!(message.contains("invalid UTF-8"), "{message}");
}

#[test]
fn wrong_type_names_file_line_and_column() {
    let dir = damaged_copy("races.csv", |b| {
        replace_line(b, 10, b"9,2009,nine,17,\"Chinese Grand Prix\",\"2009-04-19\",\"07:00:00\",\"http://en.wikipedia.org/wiki/2009_Chinese_Grand_Prix\",\\N,\\N,\\N,\\N,\\N,\\N,\\N,\\N,\\N,\\N")
    });
    let error = import_fails_leaving_previous(dir.path());
    assert_eq!(
        error.to_string(),
        format!(
            "{}: line 10, column 'round': expected an integer, found 'nine'",
            dir.path().join("races.csv").display()
        )
    );
}

#[test]
fn bad_date_and_missing_required_value_are_rejected() {
    let dir = damaged_copy("drivers.csv", |b| {
        replace_line(
            b,
            2,
            b"1,\"hamilton\",44,\"HAM\",\"Lewis\",\"Hamilton\",\"07/01/1985\",\"British\",\"x\"",
        )
    });
    let error = import_fails_leaving_previous(dir.path());
    assert!(
        error.to_string().contains("column 'dob': expected a date"),
        "{error}"
    );

    let dir = damaged_copy("status.csv", |b| replace_line(b, 2, b"1,\\N"));
    let error = import_fails_leaving_previous(dir.path());
    assert!(
        error.to_string().contains("column 'status': missing value"),
        "{error}"
    );
}

#[test]
fn duplicate_primary_key_names_file_and_line() {
    let dir = damaged_copy("status.csv", |b| replace_line(b, 3, b"1,\"Disqualified\""));
    let error = import_fails_leaving_previous(dir.path());
    let message = error.to_string();
    assert!(
        matches!(error, Error::Constraint { line: 3, .. }),
        "{message}"
    );
    assert!(message.contains("UNIQUE constraint failed"), "{message}");
}

#[test]
fn broken_foreign_key_names_file_and_line() {
    // Result 1 now names driver 99999, who does not exist.
    let dir = damaged_copy("results.csv", |b| {
        replace_line(
            b,
            2,
            b"1,18,99999,1,22,1,1,1,1,10,58,1:34:50.616,5690616,39,2,1:27.452,218.3,1",
        )
    });
    let error = import_fails_leaving_previous(dir.path());
    let message = error.to_string();
    assert!(
        matches!(error, Error::Constraint { line: 2, .. }),
        "{message}"
    );
    assert!(message.contains("results.csv: line 2"), "{message}");
    assert!(
        message.contains("FOREIGN KEY constraint failed"),
        "{message}"
    );
}

#[test]
fn impossible_points_fail_the_integrity_check() {
    let dir = damaged_copy("results.csv", |b| {
        replace_line(
            b,
            2,
            b"1,18,1,1,22,1,1,1,1,500,58,1:34:50.616,5690616,39,2,1:27.452,218.3,1",
        )
    });
    let error = import_fails_leaving_previous(dir.path());
    assert!(error.to_string().contains("points per race"), "{error}");
}

/// A results table cut at a line boundary (the first 14,000 of 27,118 rows)
/// parses cleanly, but races that standings and grids show were run have no
/// classification: the import fails and keeps the database.
#[test]
fn a_truncated_results_table_fails_the_integrity_check() {
    let dir = damaged_copy("results.csv", |b| {
        let lines: Vec<&[u8]> = b.split(|&c| c == b'\n').collect();
        assert!(lines.len() > 27_000);
        let mut kept = lines[..=14_000].join(&b'\n');
        kept.push(b'\n');
        kept
    });
    let error = import_fails_leaving_previous(dir.path()).to_string();
    assert!(
        error.contains("every race that was run has results"),
        "{error}"
    );
    assert!(error.contains("round"), "{error}");
}

/// One result's points changed (Hamilton's 2008 Australian GP win worth 9, not
/// 10): every row is well-formed, but 2008's final standings no longer equal the
/// points its results give.
#[test]
fn results_that_do_not_add_up_to_the_standings_fail_the_integrity_check() {
    let dir = damaged_copy("results.csv", |b| {
        replace_line(
            b,
            2,
            b"1,18,1,1,22,1,1,1,1,9,58,1:34:50.616,5690616,39,2,1:27.452,218.3,1",
        )
    });
    let error = import_fails_leaving_previous(dir.path()).to_string();
    assert!(
        error.contains("final driver standings equal the season's race and sprint points"),
        "{error}"
    );
    assert!(
        error.contains("2008 hamilton: standings 98.0, results 97.0"),
        "{error}"
    );
}

/// A sprint table cut in half: the later seasons' drivers and teams hold more
/// points in the standings than their results give.
#[test]
fn a_truncated_sprint_table_fails_the_standings_check() {
    let dir = damaged_copy("sprint_results.csv", |b| {
        let lines: Vec<&[u8]> = b.split(|&c| c == b'\n').collect();
        let mut kept = lines[..lines.len() / 2].join(&b'\n');
        kept.push(b'\n');
        kept
    });
    let error = import_fails_leaving_previous(dir.path()).to_string();
    assert!(
        error.contains("final driver standings equal the season's race and sprint points"),
        "{error}"
    );
}

/// A race added to 2010 with no classification and nothing else (no grid, no
/// standings): 2010 is a completed season, so the import fails.
#[test]
fn a_race_of_a_completed_season_without_results_fails_the_integrity_check() {
    let dir = damaged_copy("races.csv", |mut b| {
        b.extend_from_slice(
            b"1169,2010,20,24,\"Extra Grand Prix\",\"2010-11-21\",\"13:00:00\",\"http://example.org\",\\N,\\N,\\N,\\N,\\N,\\N,\\N,\\N,\\N,\\N\n",
        );
        b
    });
    let error = import_fails_leaving_previous(dir.path()).to_string();
    assert!(
        error.contains("every race of a completed season has results"),
        "{error}"
    );
    assert!(
        error.contains("2010 round 20 (Extra Grand Prix)"),
        "{error}"
    );
}

#[test]
fn lap_times_load_when_present() {
    let dir = damaged_copy("status.csv", |b| b);
    std::fs::write(
        dir.path().join("lap_times.csv"),
        "raceId,driverId,lap,position,time,milliseconds\n\
         1035,830,1,3,1:35.172,95172\n1035,830,2,3,1:31.421,91421\n1035,1,1,2,1:34.880,94880\n",
    )
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("f1.sqlite");
    let summary = f1_data::import_ergast(dir.path(), &db).unwrap();
    assert!(
        summary.rows_read.contains(&("lap_times", 3)),
        "{:?}",
        summary.rows_read
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let best: i64 = conn
        .query_row(
            "SELECT min(milliseconds) FROM lap_times WHERE driver_id = 830",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(best, 91421);

    // A lap for a race that does not exist is refused like any other broken reference.
    std::fs::write(
        dir.path().join("lap_times.csv"),
        "raceId,driverId,lap,position,time,milliseconds\n99999,830,1,3,1:35.172,95172\n",
    )
    .unwrap();
    let error = f1_data::import_ergast(dir.path(), &db).unwrap_err();
    assert!(
        error.to_string().contains("lap_times.csv: line 2"),
        "{error}"
    );
}
