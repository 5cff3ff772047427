//! Fetching one URL within a size cap, and the page cache under data/raw/web/.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why a page was not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    Disallowed,
    TooLarge { limit: usize },
    Timeout,
    Status(u16),
    NotHtml(String),
    Network(String),
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Skip::Disallowed => write!(f, "disallowed by robots.txt"),
            Skip::TooLarge { limit } => write!(f, "larger than the {limit}-byte cap"),
            Skip::Timeout => write!(f, "timed out"),
            Skip::Status(code) => write!(f, "HTTP {code}"),
            Skip::NotHtml(kind) => write!(f, "not HTML ({kind})"),
            Skip::Network(e) => write!(f, "network error: {e}"),
        }
    }
}

/// A page as fetched (or read back from the cache).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page {
    pub url: String,
    pub status: u16,
    pub content_type: String,
    pub fetched_at: String,
    #[serde(skip)]
    pub body: Vec<u8>,
}

/// GETs `url`, giving up past `limit` bytes (by Content-Length or while reading).
pub async fn fetch(client: &reqwest::Client, url: &str, limit: usize) -> Result<Page, Skip> {
    let mut response = client.get(url).send().await.map_err(classify)?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(Skip::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > limit {
            return Err(Skip::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Page {
        url: url.to_string(),
        status,
        content_type,
        fetched_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        body,
    })
}

fn classify(error: reqwest::Error) -> Skip {
    if error.is_timeout() {
        Skip::Timeout
    } else {
        Skip::Network(error.to_string())
    }
}

/// Pages kept on disk by URL hash: `<hash>.html` and `<hash>.json` (the metadata).
pub struct PageCache {
    dir: PathBuf,
}

impl PageCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn paths(&self, url: &str) -> (PathBuf, PathBuf) {
        let hash = Sha256::digest(url.as_bytes());
        let name: String = hash[..12].iter().map(|b| format!("{b:02x}")).collect();
        (
            self.dir.join(format!("{name}.html")),
            self.dir.join(format!("{name}.json")),
        )
    }

    /// A cached page, if both its files are there and readable.
    pub fn get(&self, url: &str) -> Option<Page> {
        let (body_path, meta_path) = self.paths(url);
        let mut page: Page = serde_json::from_slice(&std::fs::read(meta_path).ok()?).ok()?;
        page.body = std::fs::read(body_path).ok()?;
        (page.url == url).then_some(page)
    }

    /// Stores a page: its body and metadata, each written whole, renamed into
    /// place body first.
    pub fn put(&self, page: &Page) -> Result<(), f1_files::Error> {
        let (body_path, meta_path) = self.paths(&page.url);
        let meta = serde_json::to_vec_pretty(page).expect("a page serializes");
        f1_files::write_all(&[
            (body_path, page.body.as_slice()),
            (meta_path, meta.as_slice()),
        ])
    }
}
