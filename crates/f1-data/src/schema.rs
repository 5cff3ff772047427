//! The SQLite schema, declared once as data: the DDL and the CSV mapping both come from it.
//!
//! Column names follow the Ergast CSV headers in snake_case (`raceId` -> `race_id`).

/// How a column's text is checked and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Integer,
    Real,
    Text,
    /// An ISO date, `YYYY-MM-DD`, stored as TEXT.
    Date,
    /// A race time or gap to the winner, stored as TEXT in one spelling
    /// (see [`crate::gap::normalize_gap`]).
    Gap,
}

impl ColumnType {
    fn sql(self) -> &'static str {
        match self {
            ColumnType::Integer => "INTEGER",
            ColumnType::Real => "REAL",
            ColumnType::Text | ColumnType::Date | ColumnType::Gap => "TEXT",
        }
    }
}

/// One column: its CSV header, SQL name, type and constraints.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    pub name: &'static str,
    pub ty: ColumnType,
    pub nullable: bool,
    /// Older Kaggle exports lack this column; it loads as NULL when absent.
    pub optional: bool,
    /// `(table, column)` this column refers to.
    pub references: Option<(&'static str, &'static str)>,
}

const fn col(header: &'static str, name: &'static str, ty: ColumnType) -> Column {
    Column {
        header,
        name,
        ty,
        nullable: false,
        optional: false,
        references: None,
    }
}

impl Column {
    const fn null(mut self) -> Self {
        self.nullable = true;
        self
    }
    const fn optional(mut self) -> Self {
        self.nullable = true;
        self.optional = true;
        self
    }
    const fn refs(mut self, table: &'static str, column: &'static str) -> Self {
        self.references = Some((table, column));
        self
    }
}

/// One table: the CSV file it loads from, its columns, keys and indices.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    /// Whether the import fails when the CSV file is missing.
    pub required: bool,
    pub columns: &'static [Column],
    pub primary_key: &'static [&'static str],
    pub unique: &'static [&'static [&'static str]],
    pub indices: &'static [&'static [&'static str]],
}

impl Table {
    /// The CSV file name, e.g. `results.csv`.
    pub fn file_name(&self) -> String {
        format!("{}.csv", self.name)
    }

    /// `CREATE TABLE` and `CREATE INDEX` statements for this table.
    pub fn ddl(&self) -> String {
        let mut lines: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let not_null = if c.nullable { "" } else { " NOT NULL" };
                format!("  {} {}{not_null}", c.name, c.ty.sql())
            })
            .collect();
        lines.push(format!("  PRIMARY KEY ({})", self.primary_key.join(", ")));
        for unique in self.unique {
            lines.push(format!("  UNIQUE ({})", unique.join(", ")));
        }
        for c in self.columns {
            if let Some((table, column)) = c.references {
                lines.push(format!(
                    "  FOREIGN KEY ({}) REFERENCES {table}({column})",
                    c.name
                ));
            }
        }
        let mut ddl = format!("CREATE TABLE {} (\n{}\n);\n", self.name, lines.join(",\n"));
        for index in self.indices {
            ddl.push_str(&format!(
                "CREATE INDEX idx_{}_{} ON {}({});\n",
                self.name,
                index.join("_"),
                self.name,
                index.join(", ")
            ));
        }
        ddl
    }
}

use ColumnType::{Date, Gap, Integer as Int, Real, Text};

const RACE: Column = col("raceId", "race_id", Int).refs("races", "race_id");
const DRIVER: Column = col("driverId", "driver_id", Int).refs("drivers", "driver_id");
const CONSTRUCTOR: Column =
    col("constructorId", "constructor_id", Int).refs("constructors", "constructor_id");
const STATUS: Column = col("statusId", "status_id", Int).refs("status", "status_id");

/// Every table, in an order where each table's references come before it.
pub const TABLES: &[Table] = &[
    Table {
        name: "seasons",
        required: true,
        columns: &[col("year", "year", Int), col("url", "url", Text).null()],
        primary_key: &["year"],
        unique: &[],
        indices: &[],
    },
    Table {
        name: "circuits",
        required: true,
        columns: &[
            col("circuitId", "circuit_id", Int),
            col("circuitRef", "circuit_ref", Text),
            col("name", "name", Text),
            col("location", "location", Text).null(),
            col("country", "country", Text).null(),
            col("lat", "lat", Real).null(),
            col("lng", "lng", Real).null(),
            col("alt", "alt", Int).null(),
            col("url", "url", Text).null(),
        ],
        primary_key: &["circuit_id"],
        unique: &[&["circuit_ref"]],
        indices: &[],
    },
    Table {
        name: "status",
        required: true,
        columns: &[
            col("statusId", "status_id", Int),
            col("status", "status", Text),
        ],
        primary_key: &["status_id"],
        unique: &[&["status"]],
        indices: &[],
    },
    Table {
        name: "drivers",
        required: true,
        columns: &[
            col("driverId", "driver_id", Int),
            col("driverRef", "driver_ref", Text),
            col("number", "number", Int).null(),
            col("code", "code", Text).null(),
            col("forename", "forename", Text),
            col("surname", "surname", Text),
            col("dob", "dob", Date).null(),
            col("nationality", "nationality", Text).null(),
            col("url", "url", Text).null(),
        ],
        primary_key: &["driver_id"],
        unique: &[&["driver_ref"]],
        indices: &[&["surname"]],
    },
    Table {
        name: "constructors",
        required: true,
        columns: &[
            col("constructorId", "constructor_id", Int),
            col("constructorRef", "constructor_ref", Text),
            col("name", "name", Text),
            col("nationality", "nationality", Text).null(),
            col("url", "url", Text).null(),
        ],
        primary_key: &["constructor_id"],
        unique: &[&["constructor_ref"]],
        indices: &[&["name"]],
    },
    Table {
        name: "races",
        required: true,
        columns: &[
            col("raceId", "race_id", Int),
            col("year", "year", Int).refs("seasons", "year"),
            col("round", "round", Int),
            col("circuitId", "circuit_id", Int).refs("circuits", "circuit_id"),
            col("name", "name", Text),
            col("date", "date", Date),
            col("time", "time", Text).null(),
            col("url", "url", Text).null(),
            col("fp1_date", "fp1_date", Date).optional(),
            col("fp1_time", "fp1_time", Text).optional(),
            col("fp2_date", "fp2_date", Date).optional(),
            col("fp2_time", "fp2_time", Text).optional(),
            col("fp3_date", "fp3_date", Date).optional(),
            col("fp3_time", "fp3_time", Text).optional(),
            col("quali_date", "quali_date", Date).optional(),
            col("quali_time", "quali_time", Text).optional(),
            col("sprint_date", "sprint_date", Date).optional(),
            col("sprint_time", "sprint_time", Text).optional(),
        ],
        primary_key: &["race_id"],
        unique: &[&["year", "round"]],
        indices: &[&["circuit_id"], &["name"]],
    },
    Table {
        name: "results",
        required: true,
        columns: &[
            col("resultId", "result_id", Int),
            RACE,
            DRIVER,
            CONSTRUCTOR,
            col("number", "number", Int).null(),
            col("grid", "grid", Int),
            col("position", "position", Int).null(),
            col("positionText", "position_text", Text),
            col("positionOrder", "position_order", Int),
            col("points", "points", Real),
            col("laps", "laps", Int),
            col("time", "time", Gap).null(),
            col("milliseconds", "milliseconds", Int).null(),
            col("fastestLap", "fastest_lap", Int).null(),
            col("rank", "rank", Int).null(),
            col("fastestLapTime", "fastest_lap_time", Text).null(),
            col("fastestLapSpeed", "fastest_lap_speed", Real).null(),
            STATUS,
        ],
        primary_key: &["result_id"],
        unique: &[],
        indices: &[
            &["race_id", "position_order"],
            &["driver_id"],
            &["constructor_id"],
        ],
    },
    Table {
        name: "sprint_results",
        required: true,
        columns: &[
            col("resultId", "result_id", Int),
            RACE,
            DRIVER,
            CONSTRUCTOR,
            col("number", "number", Int).null(),
            col("grid", "grid", Int),
            col("position", "position", Int).null(),
            col("positionText", "position_text", Text),
            col("positionOrder", "position_order", Int),
            col("points", "points", Real),
            col("laps", "laps", Int),
            col("time", "time", Gap).null(),
            col("milliseconds", "milliseconds", Int).null(),
            col("fastestLap", "fastest_lap", Int).null(),
            col("fastestLapTime", "fastest_lap_time", Text).null(),
            STATUS,
            col("rank", "rank", Int).null(),
        ],
        primary_key: &["result_id"],
        unique: &[&["race_id", "driver_id"]],
        indices: &[&["driver_id"]],
    },
    Table {
        name: "qualifying",
        required: true,
        columns: &[
            col("qualifyId", "qualify_id", Int),
            RACE,
            DRIVER,
            CONSTRUCTOR,
            col("number", "number", Int),
            col("position", "position", Int).null(),
            col("q1", "q1", Text).null(),
            col("q2", "q2", Text).null(),
            col("q3", "q3", Text).null(),
        ],
        primary_key: &["qualify_id"],
        unique: &[&["race_id", "driver_id"]],
        indices: &[&["driver_id"]],
    },
    Table {
        name: "driver_standings",
        required: true,
        columns: &[
            col("driverStandingsId", "driver_standings_id", Int),
            RACE,
            DRIVER,
            col("points", "points", Real),
            col("position", "position", Int).null(),
            col("positionText", "position_text", Text),
            col("wins", "wins", Int),
        ],
        primary_key: &["driver_standings_id"],
        unique: &[&["race_id", "driver_id"]],
        indices: &[&["driver_id"]],
    },
    Table {
        name: "constructor_standings",
        required: true,
        columns: &[
            col("constructorStandingsId", "constructor_standings_id", Int),
            RACE,
            CONSTRUCTOR,
            col("points", "points", Real),
            col("position", "position", Int).null(),
            col("positionText", "position_text", Text),
            col("wins", "wins", Int),
        ],
        primary_key: &["constructor_standings_id"],
        unique: &[&["race_id", "constructor_id"]],
        indices: &[&["constructor_id"]],
    },
    Table {
        name: "constructor_results",
        required: true,
        columns: &[
            col("constructorResultsId", "constructor_results_id", Int),
            RACE,
            CONSTRUCTOR,
            col("points", "points", Real).null(),
            col("status", "status", Text).null(),
        ],
        primary_key: &["constructor_results_id"],
        unique: &[&["race_id", "constructor_id"]],
        indices: &[],
    },
    Table {
        name: "pit_stops",
        required: true,
        columns: &[
            RACE,
            DRIVER,
            col("stop", "stop", Int),
            col("lap", "lap", Int),
            // The time of day; F1DB gives only the duration.
            col("time", "time", Text).null(),
            col("duration", "duration", Text).null(),
            col("milliseconds", "milliseconds", Int).null(),
        ],
        primary_key: &["race_id", "driver_id", "stop"],
        unique: &[],
        indices: &[],
    },
    Table {
        name: "lap_times",
        required: false,
        columns: &[
            RACE,
            DRIVER,
            col("lap", "lap", Int),
            col("position", "position", Int).null(),
            col("time", "time", Text).null(),
            col("milliseconds", "milliseconds", Int).null(),
        ],
        primary_key: &["race_id", "driver_id", "lap"],
        unique: &[],
        indices: &[],
    },
];

/// Tables this project derives from the imported ones, plus its own bookkeeping.
pub const DERIVED_DDL: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE season_champions (
  year INTEGER PRIMARY KEY,
  driver_name TEXT NOT NULL,
  driver_id INTEGER REFERENCES drivers(driver_id),
  constructor_name TEXT,
  constructor_id INTEGER REFERENCES constructors(constructor_id)
);
";

/// The scraped documents' table (see `documents`); part of every knowledge base.
pub const DOCUMENTS_DDL: &str = "CREATE TABLE IF NOT EXISTS documents (
  url TEXT PRIMARY KEY,
  title TEXT,
  text TEXT NOT NULL,
  fetched_at TEXT NOT NULL
);";

/// The whole schema as one SQL script.
pub fn ddl() -> String {
    let mut ddl: String = TABLES.iter().map(Table::ddl).collect();
    ddl.push_str(DERIVED_DDL);
    ddl.push_str(DOCUMENTS_DDL);
    ddl
}

/// Looks a table up by name.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_creates_in_sqlite_with_foreign_keys() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(&ddl()).unwrap();
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM pragma_foreign_key_list('results')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            n, 4,
            "results references races, drivers, constructors, status"
        );
    }

    #[test]
    fn every_reference_points_at_an_earlier_table() {
        for (i, t) in TABLES.iter().enumerate() {
            for c in t.columns {
                if let Some((target, _)) = c.references {
                    let pos = TABLES.iter().position(|x| x.name == target).unwrap();
                    assert!(pos < i, "{}.{} refers forward to {target}", t.name, c.name);
                }
            }
        }
    }
}
