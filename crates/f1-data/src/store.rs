//! The database file: atomic creation, opening, bookkeeping and derived tables.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, Transaction};
use tempfile::NamedTempFile;

use crate::error::{Error, Result};
use crate::schema;

/// The names of an import's temporary database files.
const IMPORT_PREFIX: &str = ".f1-import-";

/// Creates an empty database with the full schema in a temp file beside `db_path`
/// (locked while written; a killed import's leftovers there are removed first).
///
/// Nothing at `db_path` changes until [`persist`] renames the temp file over it.
pub fn create_temp(db_path: &Path) -> Result<(NamedTempFile, Connection)> {
    let dir = db_path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    f1_files::stale::sweep(dir, &[IMPORT_PREFIX]);
    let temp = tempfile::Builder::new()
        .prefix(IMPORT_PREFIX)
        .suffix(".sqlite.tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    f1_files::stale::lock(temp.as_file(), temp.path())?;
    let conn = Connection::open(temp.path())?;
    conn.pragma_update(None, "journal_mode", "OFF")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.execute_batch(&schema::ddl())?;
    Ok((temp, conn))
}

/// A copy of the database at `from` in a temp file beside `db_path`, to change
/// and then [`persist`] over `db_path` (which stays as it was until then).
pub fn copy_temp(from: &Path, db_path: &Path) -> Result<(NamedTempFile, Connection)> {
    ensure_exists(from)?;
    let (temp, conn) = create_temp(db_path)?;
    conn.close().map_err(|(_, e)| Error::Sqlite(e))?;
    std::fs::copy(from, temp.path()).map_err(|e| Error::io(from, e))?;
    let conn = Connection::open(temp.path())?;
    conn.pragma_update(None, "journal_mode", "OFF")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    Ok((temp, conn))
}

/// Closes the connection, flushes the temp file and renames it over `db_path`.
pub fn persist(temp: NamedTempFile, conn: Connection, db_path: &Path) -> Result<()> {
    conn.close().map_err(|(_, e)| Error::Sqlite(e))?;
    temp.as_file()
        .sync_all()
        .map_err(|e| Error::io(temp.path(), e))?;
    temp.persist(db_path)
        .map_err(|e| Error::io(db_path, e.error))?;
    Ok(())
}

/// Opens an existing knowledge base read-only.
pub fn open_read_only(db_path: &Path) -> Result<Connection> {
    ensure_exists(db_path)?;
    Ok(Connection::open_with_flags(
        db_path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?)
}

/// Opens an existing knowledge base for in-place updates, foreign keys enforced.
pub fn open_for_update(db_path: &Path) -> Result<Connection> {
    ensure_exists(db_path)?;
    let conn = Connection::open(db_path)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(conn)
}

fn ensure_exists(db_path: &Path) -> Result<()> {
    if db_path.is_file() {
        Ok(())
    } else {
        Err(Error::NoDatabase {
            path: db_path.to_path_buf(),
        })
    }
}

/// Records one bookkeeping value in the `meta` table.
pub fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    Ok(())
}

/// Reads one bookkeeping value from the `meta` table.
pub fn meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

/// Fills `season_champions` from the standings after each complete season's last race.
///
/// A season is complete when every race scheduled in it has results; the current,
/// unfinished season therefore has no champion yet.
pub fn derive_season_champions(tx: &Transaction) -> Result<()> {
    tx.execute_batch(
        "DELETE FROM season_champions;
         INSERT INTO season_champions (year, driver_name, driver_id, constructor_name, constructor_id)
         WITH complete AS (
           SELECT r.year, max(r.round) AS last_round FROM races r
           GROUP BY r.year
           HAVING count(*) = sum(EXISTS (SELECT 1 FROM results x WHERE x.race_id = r.race_id))
         ),
         last_race AS (
           SELECT c.year, r.race_id FROM complete c
           JOIN races r ON r.year = c.year AND r.round = c.last_round
         )
         SELECT l.year, d.forename || ' ' || d.surname, d.driver_id, k.name, k.constructor_id
         FROM last_race l
         JOIN driver_standings ds ON ds.race_id = l.race_id AND ds.position = 1
         JOIN drivers d ON d.driver_id = ds.driver_id
         LEFT JOIN constructor_standings cs ON cs.race_id = l.race_id AND cs.position = 1
         LEFT JOIN constructors k ON k.constructor_id = cs.constructor_id;",
    )?;
    Ok(())
}
