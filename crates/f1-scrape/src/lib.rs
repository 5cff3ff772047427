//! A polite web scraper for F1 pages: it obeys robots.txt, paces requests per host,
//! names itself, caps page size and time, caches what it fetched, and keeps each
//! page's clean text passages and tables as a document in the knowledge base.

pub mod extract;
pub mod fetch;
pub mod pacing;
pub mod robots;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use f1_data::documents::Document;
use reqwest::Url;

use fetch::{Page, PageCache, Skip};
use pacing::HostPacer;
use robots::Rules;

/// The User-Agent header and the name robots.txt rules are matched against.
pub const USER_AGENT: &str = concat!(
    "f1ai-scraper/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/f1-conversational-ai/f1-conversational-ai)"
);

/// The product token robots.txt groups are matched against.
const ROBOTS_NAME: &str = "f1ai-scraper";

/// How politely and how far to crawl.
#[derive(Debug, Clone)]
pub struct ScrapeConfig {
    /// Pages are cached here; a cached page is not fetched again unless `refresh`.
    pub cache_dir: PathBuf,
    /// Least time between two requests to one host (robots.txt may ask for more).
    pub min_delay: Duration,
    /// The most Crawl-delay this crawler honours before giving up on a host's pace.
    pub max_crawl_delay: Duration,
    /// Whole-request time cap.
    pub timeout: Duration,
    /// Page size cap in bytes.
    pub max_bytes: usize,
    /// Follow same-host links this many levels from the given URLs.
    pub max_depth: usize,
    /// Stop after this many pages kept.
    pub max_pages: usize,
    pub refresh: bool,
}

impl ScrapeConfig {
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            min_delay: Duration::from_secs(1),
            max_crawl_delay: Duration::from_secs(30),
            timeout: Duration::from_secs(20),
            max_bytes: 2 * 1024 * 1024,
            max_depth: 0,
            max_pages: 200,
            refresh: false,
        }
    }
}

/// What a crawl kept and what it skipped, and why.
#[derive(Debug, Default)]
pub struct ScrapeReport {
    pub documents: Vec<Document>,
    pub skipped: Vec<(String, Skip)>,
    /// Requests sent, robots.txt included.
    pub requests: u32,
    pub cache_hits: u32,
}

/// A polite crawler.
pub struct Scraper {
    client: reqwest::Client,
    config: ScrapeConfig,
    cache: PageCache,
    pacer: HostPacer,
    rules: HashMap<String, Rules>,
}

impl Scraper {
    pub fn new(config: ScrapeConfig) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()?;
        Ok(Self {
            client,
            cache: PageCache::new(&config.cache_dir),
            config,
            pacer: HostPacer::default(),
            rules: HashMap::new(),
        })
    }

    /// Crawls from `urls` and returns the documents it kept (not yet stored).
    pub async fn crawl(&mut self, urls: &[Url]) -> ScrapeReport {
        let mut report = ScrapeReport::default();
        let mut queue: VecDeque<(Url, usize)> = urls.iter().map(|u| (u.clone(), 0)).collect();
        let mut seen = HashSet::new();
        while let Some((mut url, depth)) = queue.pop_front() {
            if report.documents.len() >= self.config.max_pages {
                break;
            }
            url.set_fragment(None);
            if !seen.insert(url.to_string()) {
                continue;
            }
            let page = match self.page(&url, &mut report).await {
                Ok(page) => page,
                Err(skip) => {
                    tracing::info!(%url, %skip, "skipped");
                    report.skipped.push((url.to_string(), skip));
                    continue;
                }
            };
            let extracted = extract::extract(&String::from_utf8_lossy(&page.body));
            if depth < self.config.max_depth {
                for link in &extracted.links {
                    if let Ok(next) = url.join(link) {
                        if next.host_str() == url.host_str() && next.port() == url.port() {
                            queue.push_back((next, depth + 1));
                        }
                    }
                }
            }
            report.documents.push(Document {
                url: url.to_string(),
                title: extracted.title.clone(),
                text: extracted.text(),
                fetched_at: page.fetched_at,
            });
        }
        report
    }

    /// A page from the cache or, robots.txt permitting, from the network.
    async fn page(&mut self, url: &Url, report: &mut ScrapeReport) -> Result<Page, Skip> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Skip::Network(format!(
                "unsupported scheme {}",
                url.scheme()
            )));
        }
        let host = host_key(url);
        if !self.rules.contains_key(&host) {
            let rules = self.fetch_rules(url, report).await;
            self.rules.insert(host.clone(), rules);
        }
        let rules = &self.rules[&host];
        if !rules.allowed(url.as_str()) {
            return Err(Skip::Disallowed);
        }
        if !self.config.refresh {
            if let Some(page) = self.cache.get(url.as_str()) {
                report.cache_hits += 1;
                return Ok(page);
            }
        }
        let delay = self.delay(rules);
        self.pacer.wait(&host, delay).await;
        report.requests += 1;
        let page = fetch::fetch(&self.client, url.as_str(), self.config.max_bytes).await?;
        if !(200..300).contains(&page.status) {
            return Err(Skip::Status(page.status));
        }
        let kind = page.content_type.to_ascii_lowercase();
        if !(kind.starts_with("text/html")
            || kind.starts_with("application/xhtml")
            || kind.is_empty())
        {
            return Err(Skip::NotHtml(page.content_type));
        }
        if let Err(error) = self.cache.put(&page) {
            tracing::warn!(%url, %error, "could not cache the page");
        }
        Ok(page)
    }

    fn delay(&self, rules: &Rules) -> Duration {
        let asked = rules
            .crawl_delay()
            .map(|s| Duration::from_secs_f32(s.max(0.0)).min(self.config.max_crawl_delay))
            .unwrap_or_default();
        asked.max(self.config.min_delay)
    }

    /// The host's robots.txt: 2xx parsed, 4xx allows all, anything else disallows all.
    async fn fetch_rules(&mut self, url: &Url, report: &mut ScrapeReport) -> Rules {
        let Ok(robots_url) = url.join("/robots.txt") else {
            return Rules::DisallowAll;
        };
        self.pacer.wait(&host_key(url), self.config.min_delay).await;
        report.requests += 1;
        match fetch::fetch(&self.client, robots_url.as_str(), self.config.max_bytes).await {
            Ok(page) if (200..300).contains(&page.status) => Rules::parse(ROBOTS_NAME, &page.body),
            Ok(page) if (400..500).contains(&page.status) => Rules::AllowAll,
            Ok(page) => {
                tracing::warn!(%robots_url, status = page.status, "robots.txt unavailable; not crawling this host");
                Rules::DisallowAll
            }
            Err(skip) => {
                tracing::warn!(%robots_url, %skip, "robots.txt unreachable; not crawling this host");
                Rules::DisallowAll
            }
        }
    }
}

/// `scheme://host:port`, the unit of politeness.
fn host_key(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}
