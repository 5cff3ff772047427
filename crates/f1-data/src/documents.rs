//! Web documents in the knowledge base: text passages and tables the scraper kept.

use std::path::Path;

use rusqlite::Connection;
use serde::Serialize;

use crate::error::Result;
use crate::{schema, store};

/// One scraped page's clean text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Document {
    pub url: String,
    pub title: Option<String>,
    /// Passages separated by blank lines, then tables as `| a | b |` rows.
    pub text: String,
    /// RFC 3339, UTC.
    pub fetched_at: String,
}

/// Inserts or replaces documents by URL, in one transaction.
pub fn upsert(db_path: &Path, documents: &[Document]) -> Result<usize> {
    let mut conn = store::open_for_update(db_path)?;
    conn.execute_batch(schema::DOCUMENTS_DDL)?;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO documents (url, title, text, fetched_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(url) DO UPDATE SET title = excluded.title, text = excluded.text,
               fetched_at = excluded.fetched_at",
        )?;
        for d in documents {
            insert.execute(rusqlite::params![d.url, d.title, d.text, d.fetched_at])?;
        }
    }
    tx.commit()?;
    Ok(documents.len())
}

/// Every document, by URL.
pub fn all(conn: &Connection) -> Result<Vec<Document>> {
    let mut stmt =
        conn.prepare("SELECT url, title, text, fetched_at FROM documents ORDER BY url")?;
    let rows = stmt.query_map([], |r| {
        Ok(Document {
            url: r.get(0)?,
            title: r.get(1)?,
            text: r.get(2)?,
            fetched_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Copies the documents of the database at `previous` (if it has any) into `conn`,
/// so that re-importing the Ergast tables keeps what was scraped.
pub fn carry_over(conn: &Connection, previous: &Path) -> Result<u64> {
    if !previous.is_file() {
        return Ok(0);
    }
    conn.execute(
        "ATTACH DATABASE ?1 AS previous",
        [previous.to_string_lossy()],
    )?;
    let has_table: bool = conn.query_row(
        "SELECT count(*) > 0 FROM previous.sqlite_master WHERE type = 'table' AND name = 'documents'",
        [],
        |r| r.get(0),
    )?;
    let copied = if has_table {
        conn.execute(
            "INSERT INTO documents SELECT url, title, text, fetched_at FROM previous.documents",
            [],
        )?
    } else {
        0
    };
    conn.execute_batch("DETACH DATABASE previous")?;
    Ok(copied as u64)
}
