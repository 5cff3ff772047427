//! HTTP access to the Jolpica F1 API: paging, a response cache, the API's published
//! rate limits (4 requests/s burst, 500/hour) and retries with backoff on 429/5xx.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::StatusCode;
use serde_json::Value;

use crate::error::{Error, Result};

/// The public Jolpica endpoint, the successor of the Ergast API.
pub const DEFAULT_BASE_URL: &str = "https://api.jolpi.ca/ergast/f1";

/// How the client talks to the API.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: String,
    /// Raw responses are kept here, one file per page.
    pub cache_dir: PathBuf,
    /// Results per page (the API allows up to 100).
    pub page_size: u32,
    /// Attempts after the first for a 429, a 5xx or a broken connection.
    pub max_retries: u32,
    /// Wait before the first retry; doubled each time, unless Retry-After says otherwise.
    pub initial_backoff: Duration,
    pub requests_per_second: NonZeroU32,
    pub requests_per_hour: NonZeroU32,
    /// Ignore cached responses (they are still rewritten).
    pub refresh: bool,
    pub timeout: Duration,
}

impl ClientConfig {
    /// The defaults for the public API, caching under `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_string(),
            cache_dir: cache_dir.into(),
            page_size: 100,
            max_retries: 5,
            initial_backoff: Duration::from_secs(1),
            requests_per_second: NonZeroU32::new(4).expect("non-zero"),
            requests_per_hour: NonZeroU32::new(500).expect("non-zero"),
            refresh: false,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Counts of what a client did, for the fetch summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RequestStats {
    pub requests: u32,
    pub cache_hits: u32,
    pub retries: u32,
}

/// A polite client for the Jolpica API.
pub struct JolpicaClient {
    http: reqwest::Client,
    config: ClientConfig,
    per_second: DefaultDirectRateLimiter,
    per_hour: DefaultDirectRateLimiter,
    stats: std::sync::Mutex<RequestStats>,
}

impl JolpicaClient {
    pub fn new(config: ClientConfig) -> Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                "f1ai/",
                env!("CARGO_PKG_VERSION"),
                " (f1-conversational-ai)"
            ))
            .timeout(config.timeout)
            .build()
            .map_err(|e| Error::Http {
                url: config.base_url.clone(),
                message: e.to_string(),
            })?;
        Ok(Self {
            http,
            per_second: RateLimiter::direct(Quota::per_second(config.requests_per_second)),
            per_hour: RateLimiter::direct(Quota::per_hour(config.requests_per_hour)),
            config,
            stats: Default::default(),
        })
    }

    /// What the client has done so far.
    pub fn stats(&self) -> RequestStats {
        *self.stats.lock().expect("stats lock")
    }

    /// Every page of `path` (e.g. `2020/5/results`), each page's `MRData` object.
    pub async fn get_all_pages(&self, path: &str) -> Result<Vec<Value>> {
        let mut pages = Vec::new();
        let mut offset = 0u64;
        loop {
            let page = self.get_page(path, offset).await?;
            let total = mrdata_number(&page, "total", path)?;
            let limit = mrdata_number(&page, "limit", path)?.max(1);
            pages.push(page);
            offset += limit;
            if offset >= total {
                return Ok(pages);
            }
        }
    }

    async fn get_page(&self, path: &str, offset: u64) -> Result<Value> {
        let limit = self.config.page_size;
        let cache = self.cache_path(path, offset, limit);
        if !self.config.refresh {
            if let Ok(bytes) = std::fs::read(&cache) {
                if let Ok(page) = parse_page(&bytes, &cache.display().to_string()) {
                    self.stats.lock().expect("stats lock").cache_hits += 1;
                    tracing::debug!(path, offset, "cache hit");
                    return Ok(page);
                }
                tracing::warn!(cache = %cache.display(), "unreadable cache entry; fetching again");
            }
        }
        let url = format!(
            "{}/{path}.json?limit={limit}&offset={offset}",
            self.config.base_url.trim_end_matches('/')
        );
        let bytes = self.request_with_retries(&url).await?;
        let page = parse_page(&bytes, &url)?;
        f1_files::write(&cache, &bytes)?;
        Ok(page)
    }

    async fn request_with_retries(&self, url: &str) -> Result<Vec<u8>> {
        let mut attempt = 0;
        loop {
            self.per_hour.until_ready().await;
            self.per_second.until_ready().await;
            self.stats.lock().expect("stats lock").requests += 1;
            tracing::info!(url, attempt, "GET");
            let outcome = self.http.get(url).send().await;
            let retry_after =
                match outcome {
                    Ok(response) if response.status().is_success() => {
                        return response.bytes().await.map(|b| b.to_vec()).map_err(|e| {
                            Error::Http {
                                url: url.to_string(),
                                message: e.to_string(),
                            }
                        });
                    }
                    Ok(response) if is_retryable(response.status()) => {
                        let wait = retry_after(&response);
                        if attempt >= self.config.max_retries {
                            return Err(Error::Http {
                                url: url.to_string(),
                                message: format!(
                                    "{} after {} attempts",
                                    response.status(),
                                    attempt + 1
                                ),
                            });
                        }
                        wait
                    }
                    Ok(response) => {
                        return Err(Error::Http {
                            url: url.to_string(),
                            message: response.status().to_string(),
                        })
                    }
                    Err(e) if attempt >= self.config.max_retries => {
                        return Err(Error::Http {
                            url: url.to_string(),
                            message: e.to_string(),
                        })
                    }
                    Err(_) => None,
                };
            let backoff = retry_after
                .unwrap_or(self.config.initial_backoff * 2u32.saturating_pow(attempt))
                .min(Duration::from_secs(120));
            tracing::warn!(url, ?backoff, "retrying");
            self.stats.lock().expect("stats lock").retries += 1;
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }

    fn cache_path(&self, path: &str, offset: u64, limit: u32) -> PathBuf {
        let name = path.replace('/', "_");
        self.config
            .cache_dir
            .join(format!("{name}.offset{offset}.limit{limit}.json"))
    }
}

fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let seconds = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

fn parse_page(bytes: &[u8], source_name: &str) -> Result<Value> {
    let mut body: Value = serde_json::from_slice(bytes).map_err(|e| Error::Response {
        source_name: source_name.to_string(),
        message: format!("not JSON: {e}"),
    })?;
    match body.get_mut("MRData") {
        Some(mrdata) if mrdata.is_object() => Ok(mrdata.take()),
        _ => Err(Error::Response {
            source_name: source_name.to_string(),
            message: "no MRData object".into(),
        }),
    }
}

/// `MRData.total`, `.limit` or `.offset`, which the API sends as strings.
fn mrdata_number(page: &Value, key: &str, path: &str) -> Result<u64> {
    let value = &page[key];
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| value.as_u64())
        .ok_or_else(|| Error::Response {
            source_name: path.to_string(),
            message: format!("MRData.{key} is missing or not a number"),
        })
}
