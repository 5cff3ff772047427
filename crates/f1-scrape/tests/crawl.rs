//! The crawler against a real HTTP server on 127.0.0.1 serving pages written for
//! the test: a robots.txt that disallows a path, a slow page, oversized pages (with
//! and without Content-Length), broken HTML, a missing page and a non-HTML resource.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use f1_scrape::fetch::Skip;
use f1_scrape::{ScrapeConfig, Scraper, USER_AGENT};
use reqwest::Url;

#[derive(Default)]
struct Log {
    hits: BTreeMap<String, u32>,
    user_agents: Vec<String>,
}

const INDEX: &str = r#"<!doctype html><html><head><title>F1 archive</title></head><body>
<nav><a href="/">Home</a></nav>
<h1>Season archive</h1><p>Pages about the 2021 season.</p>
<a href="race.html">Race</a> <a href="/private/secret.html">Secret</a> <a href="slow.html">Slow</a>
<a href="big.html">Big</a> <a href="big-stream.html">Big stream</a> <a href="broken.html">Broken</a>
<a href="missing.html">Missing</a> <a href="data.json">Data</a> <a href="race.html#top">Race again</a>
</body></html>"#;

const RACE: &str = r#"<html><head><title>2021 Abu Dhabi Grand Prix</title><script>track()</script></head><body>
<p>Max Verstappen won the race and the championship.</p>
<table><tr><th>Pos</th><th>Driver</th><th>Team</th></tr>
<tr><td>1</td><td>Max Verstappen</td><td>Red Bull</td></tr>
<tr><td>2</td><td>Lewis Hamilton</td><td>Mercedes</td></tr></table>
<footer><p>Archive footer</p></footer></body></html>"#;

const BROKEN: &str = "<html><body><h2>Monaco 1984<p>Alain Prost won a shortened race <b>in the rain<p>Ayrton Senna was second<table><tr><td>1<td>Prost";

async fn serve(State(log): State<Arc<Mutex<Log>>>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_string();
    {
        let mut log = log.lock().unwrap();
        *log.hits.entry(path.clone()).or_default() += 1;
        let agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        log.user_agents.push(agent.to_string());
    }
    let html =
        |body: String| ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    match path.as_str() {
        "/robots.txt" => "User-agent: *\nDisallow: /private\n".into_response(),
        "/index.html" => html(INDEX.into()),
        "/race.html" => html(RACE.into()),
        "/broken.html" => html(BROKEN.into()),
        "/private/secret.html" => html("<p>secret</p>".into()),
        "/slow.html" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            html("<p>finally</p>".into())
        }
        "/big.html" => html(format!("<p>{}</p>", "x".repeat(200_000))),
        "/big-stream.html" => {
            let chunks = (0..50).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 8192]));
            Response::builder()
                .header(header::CONTENT_TYPE, "text/html")
                .body(Body::from_stream(futures_util::stream::iter(chunks)))
                .unwrap()
        }
        "/data.json" => ([(header::CONTENT_TYPE, "application/json")], "{}").into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn start() -> (Url, Arc<Mutex<Log>>) {
    let log = Arc::new(Mutex::new(Log::default()));
    let app = Router::new().fallback(serve).with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (
        Url::parse(&format!("http://{address}/index.html")).unwrap(),
        log,
    )
}

fn config(cache: &std::path::Path) -> ScrapeConfig {
    let mut config = ScrapeConfig::new(cache);
    config.min_delay = Duration::from_millis(150);
    config.timeout = Duration::from_secs(1);
    config.max_bytes = 64 * 1024;
    config.max_depth = 1;
    config
}

fn reason<'a>(report: &'a f1_scrape::ScrapeReport, path: &str) -> Option<&'a Skip> {
    report
        .skipped
        .iter()
        .find(|(url, _)| url.ends_with(path))
        .map(|(_, s)| s)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_polite_crawl_keeps_clean_text_and_skips_what_it_must() {
    let (start_url, log) = start().await;
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("web");
    let mut scraper = Scraper::new(config(&cache)).unwrap();
    let started = Instant::now();
    let report = scraper.crawl(std::slice::from_ref(&start_url)).await;
    let elapsed = started.elapsed();

    let kept: Vec<&str> = report
        .documents
        .iter()
        .map(|d| d.url.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(kept, ["index.html", "race.html", "broken.html"]);
    assert_eq!(
        reason(&report, "/private/secret.html"),
        Some(&Skip::Disallowed)
    );
    assert_eq!(reason(&report, "/slow.html"), Some(&Skip::Timeout));
    assert_eq!(
        reason(&report, "/big.html"),
        Some(&Skip::TooLarge { limit: 65536 })
    );
    assert_eq!(
        reason(&report, "/big-stream.html"),
        Some(&Skip::TooLarge { limit: 65536 })
    );
    assert_eq!(reason(&report, "/missing.html"), Some(&Skip::Status(404)));
    assert!(matches!(
        reason(&report, "/data.json"),
        Some(Skip::NotHtml(_))
    ));

    let race = &report.documents[1];
    assert_eq!(race.title.as_deref(), Some("2021 Abu Dhabi Grand Prix"));
    assert!(race
        .text
        .starts_with("Max Verstappen won the race and the championship."));
    assert!(race.text.contains("| 1 | Max Verstappen | Red Bull |"));
    assert!(!race.text.contains("footer") && !race.text.contains("track()"));
    let broken = &report.documents[2];
    assert!(
        broken
            .text
            .contains("Alain Prost won a shortened race in the rain"),
        "{}",
        broken.text
    );
    assert!(broken.text.contains("Ayrton Senna was second"));

    {
        let log = log.lock().unwrap();
        assert_eq!(
            log.hits.get("/private/secret.html"),
            None,
            "a disallowed page was requested"
        );
        assert_eq!(log.hits["/robots.txt"], 1);
        assert_eq!(
            log.hits["/race.html"], 1,
            "the #fragment link is the same page"
        );
        assert!(log.user_agents.iter().all(|a| a == USER_AGENT));
    }
    // robots.txt plus nine pages (the nav's link to / too) on one host, 150 ms apart.
    assert_eq!(reason(&report, "/"), Some(&Skip::Status(404)));
    assert_eq!(report.requests, 10);
    assert!(elapsed >= Duration::from_millis(9 * 150), "{elapsed:?}");

    // A second crawl reads the kept pages from the cache: only robots.txt and the
    // pages that failed go over the network again.
    let mut again = Scraper::new(config(&cache)).unwrap();
    let report2 = again.crawl(&[start_url]).await;
    assert_eq!(report2.cache_hits, 3);
    assert_eq!(report2.documents, report.documents);
    let log = log.lock().unwrap();
    assert_eq!(log.hits["/race.html"], 1);
    assert_eq!(log.hits["/index.html"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn documents_land_in_the_knowledge_base_and_survive_a_reimport() {
    let (start_url, _log) = start().await;
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("f1.sqlite");
    f1_data::fallback::import_fallback(&db).unwrap();
    let mut scraper = Scraper::new(config(&work.path().join("web"))).unwrap();
    let report = scraper.crawl(&[start_url]).await;
    assert_eq!(
        f1_data::documents::upsert(&db, &report.documents).unwrap(),
        3
    );

    f1_data::fallback::import_fallback(&db).unwrap();
    let conn = rusqlite_connection(&db);
    let stored = f1_data::documents::all(&conn).unwrap();
    assert_eq!(stored.len(), 3);
    assert!(stored
        .iter()
        .any(|d| d.text.contains("| 2 | Lewis Hamilton | Mercedes |")));
}

fn rusqlite_connection(db: &std::path::Path) -> f1_data::rusqlite::Connection {
    f1_data::rusqlite::Connection::open(db).unwrap()
}
