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
            "final driver standings equal the season's race and sprint points",
            &standings_sum_sql(Championship::Drivers),
        )?,
        rows_check(
            conn,
            "final constructor standings equal the season's race and sprint points",
            &standings_sum_sql(Championship::Constructors),
        )?,
        rows_check(
            conn,
            "every race of a completed season has results",
            "SELECT r.year || ' round ' || r.round || ' (' || r.name || ')' FROM races r
             WHERE r.year < (SELECT max(l.year) FROM races l
                             WHERE EXISTS (SELECT 1 FROM results x WHERE x.race_id = l.race_id))
               AND NOT EXISTS (SELECT 1 FROM results x WHERE x.race_id = r.race_id)
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

/// The last season in which drivers counted only their best results (dropped
/// scores), so their standings may hold fewer points than they scored.
pub const LAST_DROPPED_SCORES_SEASON: i64 = 1990;
/// The last season in which only a constructor's best-placed car scored (and
/// dropped scores applied), so its standings may hold fewer points than its cars.
pub const LAST_BEST_CAR_ONLY_SEASON: i64 = 1978;
/// Constructors whose standings lost points they scored, by season: Force
/// India's 2018 points stayed with the old entry when the team was sold
/// mid-season; Racing Point lost 15 points in 2020 for copied brake ducts.
pub const CONSTRUCTOR_PENALTIES: &[(i64, &str)] = &[(2018, "force_india"), (2020, "racing_point")];

#[derive(Clone, Copy)]
enum Championship {
    Drivers,
    Constructors,
}

/// Each season's standings after its last round that has standings against
/// the points its race and sprint results give up to that round, per driver
/// or constructor: equal, or no more than scored where the rules of the time
/// (or a penalty) took points away. A truncated results or sprint table fails it.
fn standings_sum_sql(championship: Championship) -> String {
    let (entity, standings, names, name_column, exempt) = match championship {
        Championship::Drivers => (
            "driver_id",
            "driver_standings",
            "drivers",
            "driver_ref",
            format!("k.year <= {LAST_DROPPED_SCORES_SEASON}"),
        ),
        Championship::Constructors => {
            let penalties = CONSTRUCTOR_PENALTIES
                .iter()
                .map(|(year, name)| format!("(k.year = {year} AND n.constructor_ref = '{name}')"))
                .collect::<Vec<_>>()
                .join(" OR ");
            (
                "constructor_id",
                "constructor_standings",
                "constructors",
                "constructor_ref",
                format!("k.year <= {LAST_BEST_CAR_ONLY_SEASON} OR {penalties}"),
            )
        }
    };
    format!(
        "WITH last AS (
           SELECT r.year, max(r.round) AS round FROM races r
           WHERE EXISTS (SELECT 1 FROM {standings} s WHERE s.race_id = r.race_id)
           GROUP BY r.year),
         final AS (
           SELECT r.year, s.{entity} AS id, s.points FROM {standings} s
           JOIN races r USING (race_id) JOIN last l ON l.year = r.year AND l.round = r.round),
         scored AS (
           SELECT r.year, x.{entity} AS id, sum(x.points) AS points
           FROM (SELECT race_id, {entity}, points FROM results
                 UNION ALL SELECT race_id, {entity}, points FROM sprint_results) x
           JOIN races r USING (race_id) JOIN last l ON l.year = r.year AND r.round <= l.round
           WHERE x.{entity} IS NOT NULL
           GROUP BY r.year, x.{entity}),
         keys AS (SELECT year, id FROM final UNION SELECT year, id FROM scored)
         SELECT k.year || ' ' || ifnull(n.{name_column}, k.id) || ': standings '
                || ifnull(f.points, 0) || ', results ' || ifnull(s.points, 0)
         FROM keys k
         LEFT JOIN final f ON f.year = k.year AND f.id = k.id
         LEFT JOIN scored s ON s.year = k.year AND s.id = k.id
         LEFT JOIN {names} n ON n.{entity} = k.id
         WHERE ifnull(f.points, 0) > ifnull(s.points, 0) + 0.01
            OR (ifnull(f.points, 0) < ifnull(s.points, 0) - 0.01 AND NOT ({exempt}))
         ORDER BY k.year, k.id"
    )
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
