//! Checks run on a freshly loaded knowledge base before it replaces the old one.

use rusqlite::Connection;

use crate::error::Result;

/// Twice the most points any one race awarded outside double-points races
/// (2019-2024: 25+18+15+12+10+8+6+4+2+1 plus 1 for the fastest lap), so that
/// 2014's double-points finale (202) passes and a duplicated result set does not.
pub const MAX_POINTS_PER_RACE: f64 = 204.0;

/// The outcome of one integrity check.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub violations: u64,
    /// A few offending rows, for the error message.
    pub examples: Vec<String>,
}

/// Row counts and the outcome of every check.
#[derive(Debug, Clone)]
pub struct IntegrityReport {
    pub row_counts: Vec<(&'static str, u64)>,
    pub checks: Vec<Check>,
    /// Races where one driver shared several cars (1950s-70s practice); allowed.
    pub shared_drives: u64,
}

impl IntegrityReport {
    /// Total violations over all checks.
    pub fn violations(&self) -> u64 {
        self.checks.iter().map(|c| c.violations).sum()
    }

    /// A description of the first failing check, if any.
    pub fn first_failure(&self) -> Option<String> {
        self.checks.iter().find(|c| c.violations > 0).map(|c| {
            format!(
                "{}: {} violation(s), e.g. {}",
                c.name,
                c.violations,
                c.examples.join("; ")
            )
        })
    }
}

/// Runs every check; `rows_read` are the CSV row counts the database must hold.
pub fn check(conn: &Connection, rows_read: &[(&'static str, u64)]) -> Result<IntegrityReport> {
    let mut row_counts = Vec::new();
    let mut count_mismatches = Vec::new();
    for &(table, read) in rows_read {
        let stored: u64 =
            conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        if stored != read {
            count_mismatches.push(format!("{table}: {read} read, {stored} stored"));
        }
        row_counts.push((table, stored));
    }
    let checks = vec![
        Check {
            name: "row counts",
            violations: count_mismatches.len() as u64,
            examples: count_mismatches,
        },
        rows_check(
            conn,
            "foreign keys",
            "SELECT \"table\" || ' rowid ' || rowid || ' -> ' || parent FROM pragma_foreign_key_check",
        )?,
        rows_check(
            conn,
            "one result per driver per car per race",
            "SELECT 'race ' || race_id || ' driver ' || driver_id || ' car ' || ifnull(number, '?')
             FROM results GROUP BY race_id, driver_id, number HAVING count(*) > 1",
        )?,
        rows_check(
            conn,
            "points per race",
            &format!(
                "SELECT 'race ' || race_id || ': ' || sum(points) || ' points' FROM results
                 GROUP BY race_id HAVING sum(points) > {MAX_POINTS_PER_RACE} OR min(points) < 0"
            ),
        )?,
        // A truncated results table leaves races that other tables show were
        // run (standings after them, a grid, lap times) without a classification.
        rows_check(
            conn,
            "every race that was run has results",
            "SELECT r.year || ' round ' || r.round || ' (' || r.name || ')' FROM races r
             WHERE NOT EXISTS (SELECT 1 FROM results x WHERE x.race_id = r.race_id)
               AND (EXISTS (SELECT 1 FROM driver_standings s WHERE s.race_id = r.race_id)
                 OR EXISTS (SELECT 1 FROM qualifying q WHERE q.race_id = r.race_id)
                 OR EXISTS (SELECT 1 FROM lap_times l WHERE l.race_id = r.race_id))
             ORDER BY r.year, r.round",
        )?,
        rows_check(
            conn,
            "one winner per race",
            "SELECT 'race ' || race_id || ': ' || count(DISTINCT number) || ' winning cars' FROM results
             WHERE position = 1 GROUP BY race_id HAVING count(DISTINCT number) > 1",
        )?,
    ];
    let shared_drives = conn.query_row(
        "SELECT count(*) FROM (SELECT 1 FROM results GROUP BY race_id, driver_id HAVING count(*) > 1)",
        [],
        |r| r.get(0),
    )?;
    Ok(IntegrityReport {
        row_counts,
        checks,
        shared_drives,
    })
}

/// A check whose query returns one description per violating row.
fn rows_check(conn: &Connection, name: &'static str, sql: &str) -> Result<Check> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(Check {
        name,
        violations: rows.len() as u64,
        examples: rows.into_iter().take(3).collect(),
    })
}
