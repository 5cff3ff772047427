//! Ergast/Kaggle CSV tables into a fresh SQLite knowledge base, replaced atomically.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Transaction};

use crate::error::{Error, Result};
use crate::gap::normalize_gap;
use crate::integrity::{self, IntegrityReport};
use crate::schema::{self, Column, ColumnType, Table};
use crate::store;

/// What an import loaded and what the integrity checks found.
#[derive(Debug)]
pub struct ImportSummary {
    /// Rows read from each CSV file that was present.
    pub rows_read: Vec<(&'static str, u64)>,
    pub integrity: IntegrityReport,
    pub elapsed: Duration,
}

/// Loads every Ergast table from `dir` into a new database, checks it, and only then
/// replaces `db_path`. On any error `db_path` is left as it was.
pub fn import_ergast(dir: &Path, db_path: &Path) -> Result<ImportSummary> {
    let start = Instant::now();
    let files = locate_tables(dir)?;
    let (temp, mut conn) = store::create_temp(db_path)?;

    let progress = ProgressBar::new(files.len() as u64).with_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    progress.set_prefix("importing");
    let mut rows_read = Vec::new();
    let tx = conn.transaction()?;
    for (table, path) in &files {
        progress.set_message(table.name);
        let rows = load_table(&tx, table, path)?;
        tracing::debug!(table = table.name, rows, "loaded");
        rows_read.push((table.name, rows));
        progress.inc(1);
    }
    store::derive_season_champions(&tx)?;
    store::set_meta(&tx, "source", &format!("ergast:{}", dir.display()))?;
    tx.commit()?;
    let kept = crate::documents::carry_over(&conn, db_path)?;
    tracing::debug!(documents = kept, "scraped documents carried over");
    // Table statistics let the query planner pick the right index for each join.
    conn.execute_batch("ANALYZE")?;
    progress.finish_and_clear();

    let integrity = integrity::check(&conn, &rows_read)?;
    if let Some(failure) = integrity.first_failure() {
        return Err(Error::Integrity(failure));
    }
    store::persist(temp, conn, db_path)?;
    Ok(ImportSummary {
        rows_read,
        integrity,
        elapsed: start.elapsed(),
    })
}

/// The CSV path of every table present, failing on the first required one missing.
fn locate_tables(dir: &Path) -> Result<Vec<(&'static Table, PathBuf)>> {
    let mut found = Vec::new();
    for table in schema::TABLES {
        let path = dir.join(table.file_name());
        if path.is_file() {
            found.push((table, path));
        } else if table.required {
            return Err(Error::MissingTable { path });
        }
    }
    Ok(found)
}

fn load_table(tx: &Transaction, table: &Table, path: &Path) -> Result<u64> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_path(path)
        .map_err(|e| row_error(path, e))?;
    let headers = reader
        .byte_headers()
        .map_err(|e| row_error(path, e))?
        .clone();
    let positions = header_positions(table, path, &headers)?;

    let names: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
    let placeholders = vec!["?"; names.len()].join(", ");
    let mut insert = tx.prepare(&format!(
        "INSERT INTO {} ({}) VALUES ({placeholders})",
        table.name,
        names.join(", ")
    ))?;

    let mut rows = 0;
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(row_error(path, e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        check_field_count(table, &positions, headers.len(), record.len(), path, line)?;
        let values = table
            .columns
            .iter()
            .zip(&positions)
            .map(|(column, pos)| parse_value(column, pos.and_then(|p| record.get(p)), path, line))
            .collect::<Result<Vec<Value>>>()?;
        insert
            .execute(params_from_iter(values))
            .map_err(|e| Error::Constraint {
                path: path.to_path_buf(),
                line,
                message: e.to_string(),
            })?;
        rows += 1;
    }
    Ok(rows)
}

/// Some exports end a row early when its trailing fields are all empty (the 2025
/// rows of races.csv stop after `url`). That is accepted only when every field left
/// out belongs to an optional column; longer rows are always malformed.
fn check_field_count(
    table: &Table,
    positions: &[Option<usize>],
    header_len: usize,
    len: usize,
    path: &Path,
    line: u64,
) -> Result<()> {
    let cut_required = table
        .columns
        .iter()
        .zip(positions)
        .any(|(c, p)| !c.optional && p.is_some_and(|p| p >= len));
    if len > header_len || cut_required {
        return Err(Error::Row {
            path: path.to_path_buf(),
            line,
            message: format!("{len} fields where the header has {header_len}"),
        });
    }
    Ok(())
}

/// For each schema column, the index of its CSV field (None for an absent optional one).
fn header_positions(
    table: &Table,
    path: &Path,
    headers: &csv::ByteRecord,
) -> Result<Vec<Option<usize>>> {
    let header_error = |message: String| Error::Header {
        path: path.to_path_buf(),
        message,
    };
    let names = headers
        .iter()
        .map(|h| std::str::from_utf8(h).map(str::trim))
        .collect::<Result<Vec<&str>, _>>()
        .map_err(|_| header_error("header is not valid UTF-8".into()))?;
    if let Some(unknown) = names
        .iter()
        .find(|n| !table.columns.iter().any(|c| c.header == **n))
    {
        return Err(header_error(format!(
            "unexpected column '{unknown}' (expected {})",
            expected_headers(table)
        )));
    }
    table
        .columns
        .iter()
        .map(|c| match names.iter().position(|n| *n == c.header) {
            Some(p) => Ok(Some(p)),
            None if c.optional => Ok(None),
            None => Err(header_error(format!(
                "missing column '{}' (expected {})",
                c.header,
                expected_headers(table)
            ))),
        })
        .collect()
}

fn expected_headers(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|c| c.header)
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads one CSV field as its column's type; `\N` (and an empty field) is NULL.
fn parse_value(column: &Column, raw: Option<&[u8]>, path: &Path, line: u64) -> Result<Value> {
    let field_error = |message: String| Error::Field {
        path: path.to_path_buf(),
        line,
        column: column.header.to_string(),
        message,
    };
    let Some(raw) = raw else {
        return Ok(Value::Null);
    };
    let text = std::str::from_utf8(raw).map_err(|e| field_error(format!("invalid UTF-8: {e}")))?;
    let is_missing = text == "\\N" || (text.is_empty() && column.ty != ColumnType::Text);
    if is_missing {
        return if column.nullable {
            Ok(Value::Null)
        } else {
            Err(field_error("missing value in a required column".into()))
        };
    }
    match column.ty {
        ColumnType::Integer => text
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| field_error(format!("expected an integer, found '{text}'"))),
        ColumnType::Real => match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Value::Real(v)),
            _ => Err(field_error(format!("expected a number, found '{text}'"))),
        },
        ColumnType::Date if is_iso_date(text) => Ok(Value::Text(text.to_string())),
        ColumnType::Date => Err(field_error(format!(
            "expected a date as YYYY-MM-DD, found '{text}'"
        ))),
        ColumnType::Text => Ok(Value::Text(text.to_string())),
        ColumnType::Gap => Ok(Value::Text(normalize_gap(text).into_owned())),
    }
}

fn is_iso_date(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) {
        return false;
    }
    if !digits(5..7) || !digits(8..10) {
        return false;
    }
    let month: u32 = text[5..7].parse().unwrap_or(0);
    let day: u32 = text[8..10].parse().unwrap_or(0);
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

fn row_error(path: &Path, e: csv::Error) -> Error {
    let line = e.position().map_or(0, |p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(source) => Error::io(path, source),
        kind => Error::Row {
            path: path.to_path_buf(),
            line,
            message: describe_csv_error(kind),
        },
    }
}

fn describe_csv_error(kind: csv::ErrorKind) -> String {
    match kind {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_are_checked() {
        assert!(is_iso_date("1950-05-13"));
        assert!(!is_iso_date("1950-13-01"));
        assert!(!is_iso_date("13/05/1950"));
        assert!(!is_iso_date("1950-5-13"));
    }
}
