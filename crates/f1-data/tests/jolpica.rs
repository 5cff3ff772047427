//! The Jolpica client against a real HTTP server on 127.0.0.1 that serves the
//! recorded 2020 round 5 responses, paged as the API pages them.

mod common;

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use f1_data::jolpica::{self, ClientConfig, JolpicaClient, Resource};
use rusqlite::Connection;
use serde_json::Value;

#[derive(Default)]
struct Server {
    requests: AtomicU32,
    /// Answer this many requests with 429 before serving.
    throttle_first: AtomicU32,
    /// Answer every request with this status instead (0: off).
    always_fail: AtomicU32,
}

#[derive(serde::Deserialize)]
struct Paging {
    limit: Option<usize>,
    offset: Option<usize>,
}

/// Serves a recorded response, slicing the race's `Results` by limit and offset.
async fn serve(
    State(server): State<Arc<Server>>,
    UrlPath(path): UrlPath<String>,
    Query(paging): Query<Paging>,
) -> impl IntoResponse {
    server.requests.fetch_add(1, Ordering::SeqCst);
    let failing = server.always_fail.load(Ordering::SeqCst);
    if failing != 0 {
        return (
            StatusCode::from_u16(failing as u16).unwrap(),
            HeaderMap::new(),
            String::new(),
        );
    }
    if server.throttle_first.load(Ordering::SeqCst) > 0 {
        server.throttle_first.fetch_sub(1, Ordering::SeqCst);
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "0".parse().unwrap());
        return (StatusCode::TOO_MANY_REQUESTS, headers, String::new());
    }
    let file = match path.as_str() {
        "2020/5.json" => "2020_05_ergast_race.json",
        "2020/5/results.json" => "2020_05_ergast_race_result.json",
        "2023/9/results.json" => "2023_9_results.json",
        // Rounds and details the API has nothing for (yet): an empty race table.
        "2023/10/results.json"
        | "2023/9/qualifying.json"
        | "2023/9/sprint.json"
        | "2023/9/driverStandings.json"
        | "2023/9/constructorStandings.json" => "2023_99_races_empty.json",
        _ => return (StatusCode::NOT_FOUND, HeaderMap::new(), String::new()),
    };
    let text =
        std::fs::read_to_string(common::shared_data().join("jolpica-samples").join(file)).unwrap();
    let mut body: Value = serde_json::from_str(&text).unwrap();
    let (limit, offset) = (paging.limit.unwrap_or(30), paging.offset.unwrap_or(0));
    let mrdata = &mut body["MRData"];
    if let Some(results) = mrdata
        .pointer_mut("/RaceTable/Races/0/Results")
        .and_then(Value::as_array_mut)
    {
        let total = results.len();
        *results = results.iter().skip(offset).take(limit).cloned().collect();
        mrdata["total"] = total.to_string().into();
    }
    mrdata["limit"] = limit.to_string().into();
    mrdata["offset"] = offset.to_string().into();
    (StatusCode::OK, HeaderMap::new(), body.to_string())
}

async fn start_server() -> (String, Arc<Server>) {
    let server = Arc::new(Server::default());
    let app = Router::new()
        .route("/ergast/f1/{*path}", get(serve))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/ergast/f1"), server)
}

fn config(base_url: &str, cache: &Path) -> ClientConfig {
    let mut config = ClientConfig::new(cache);
    config.base_url = base_url.to_string();
    config.page_size = 7;
    config.initial_backoff = Duration::from_millis(5);
    config
}

/// The 2020 round 5 results keyed by Ergast references, as comparable rows.
fn race_rows(db: &Path) -> Vec<String> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT d.driver_ref, k.constructor_ref, x.number, x.grid, x.position, x.position_text,
                    x.position_order, x.points, x.laps, x.time, x.milliseconds, x.fastest_lap,
                    x.rank, x.fastest_lap_time, x.fastest_lap_speed, s.status,
                    r.name, r.date, r.time, c.circuit_ref
             FROM results x
             JOIN races r ON r.race_id = x.race_id
             JOIN drivers d ON d.driver_id = x.driver_id
             JOIN constructors k ON k.constructor_id = x.constructor_id
             JOIN status s ON s.status_id = x.status_id
             JOIN circuits c ON c.circuit_id = r.circuit_id
             WHERE r.year = 2020 AND r.round = 5 ORDER BY x.position_order",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |row| {
            let values: Vec<String> = (0..20)
                .map(|i| format!("{:?}", row.get::<_, rusqlite::types::Value>(i).unwrap()))
                .collect();
            Ok(values.join("|"))
        })
        .unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

fn assert_same_rows(actual: &[String], expected: &[String]) {
    assert_eq!(actual.len(), expected.len(), "row count");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(a, e, "row {i} differs");
    }
}

fn result_ids(db: &Path) -> Vec<i64> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT result_id FROM results x JOIN races r USING (race_id) WHERE r.year = 2020 AND r.round = 5 ORDER BY result_id")
        .unwrap();
    let ids = stmt.query_map([], |r| r.get(0)).unwrap();
    ids.collect::<Result<_, _>>().unwrap()
}

const RACE_AND_RESULTS: [Resource; 2] = [Resource::Races, Resource::Results];

#[tokio::test(flavor = "multi_thread")]
async fn fetched_rows_equal_the_csv_import_and_the_cache_resumes() {
    let (base_url, server) = start_server().await;
    let work = tempfile::tempdir().unwrap();
    let csv_db = common::imported_db();
    let expected = race_rows(&csv_db);
    assert_eq!(expected.len(), 20);

    // A database that lacks this race's results, as before the race was run.
    let db = work.path().join("f1.sqlite");
    std::fs::copy(&csv_db, &db).unwrap();
    Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM results WHERE race_id = (SELECT race_id FROM races WHERE year = 2020 AND round = 5)", [])
        .unwrap();
    assert!(race_rows(&db).is_empty());

    server.throttle_first.store(1, Ordering::SeqCst);
    let cache = work.path().join("cache");
    let client = JolpicaClient::new(config(&base_url, &cache)).unwrap();
    let started = Instant::now();
    let summary = jolpica::fetch_into_database(&client, &db, 2020, Some(5), &RACE_AND_RESULTS)
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_same_rows(&race_rows(&db), &expected);
    assert_eq!(summary.written.results, 20);
    // One race page, three result pages of 7, and one retry after the 429.
    assert_eq!(
        (summary.requests.requests, summary.requests.retries),
        (5, 1)
    );
    assert_eq!(server.requests.load(Ordering::SeqCst), 5);
    // Burst of 4 per second: the fifth request waits for the limiter.
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");

    // A second run (a resumed or repeated fetch) is served from the cache.
    let client = JolpicaClient::new(config(&base_url, &cache)).unwrap();
    let again = jolpica::fetch_into_database(&client, &db, 2020, Some(5), &RACE_AND_RESULTS)
        .await
        .unwrap();
    assert_eq!((again.requests.requests, again.requests.cache_hits), (0, 4));
    assert_eq!(server.requests.load(Ordering::SeqCst), 5);
    assert_same_rows(&race_rows(&db), &expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn upsert_into_a_database_that_has_the_race_keeps_its_ids() {
    let (base_url, _server) = start_server().await;
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("f1.sqlite");
    std::fs::copy(common::imported_db(), &db).unwrap();
    let (rows, ids) = (race_rows(&db), result_ids(&db));
    let client = JolpicaClient::new(config(&base_url, &work.path().join("cache"))).unwrap();
    jolpica::fetch_into_database(&client, &db, 2020, Some(5), &RACE_AND_RESULTS)
        .await
        .unwrap();
    assert_same_rows(&race_rows(&db), &rows);
    assert_eq!(result_ids(&db), ids);
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_retry_then_fail_leaving_the_database_untouched() {
    let (base_url, server) = start_server().await;
    server.always_fail.store(503, Ordering::SeqCst);
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("f1.sqlite");
    std::fs::copy(common::imported_db(), &db).unwrap();
    let before = std::fs::read(&db).unwrap();
    let mut config = config(&base_url, &work.path().join("cache"));
    config.max_retries = 2;
    config.requests_per_second = NonZeroU32::new(100).unwrap();
    let client = JolpicaClient::new(config).unwrap();
    let error = jolpica::fetch_into_database(&client, &db, 2020, Some(5), &RACE_AND_RESULTS)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("503"), "{error}");
    assert!(error.to_string().contains("after 3 attempts"), "{error}");
    assert_eq!(server.requests.load(Ordering::SeqCst), 3);
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_resource_fails_at_once_naming_the_url() {
    let (base_url, server) = start_server().await;
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("f1.sqlite");
    std::fs::copy(common::imported_db(), &db).unwrap();
    let client = JolpicaClient::new(config(&base_url, &work.path().join("cache"))).unwrap();
    let error = jolpica::fetch_into_database(&client, &db, 2020, Some(5), &[Resource::Qualifying])
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("2020/5/qualifying.json"),
        "{error}"
    );
    assert!(error.to_string().contains("404"), "{error}");
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        1,
        "a 404 is not retried"
    );
}

/// `data update`'s core: a knowledge base whose latest season (2023 here) lacks
/// its rounds from 9 on. Up to 2023-07-15, rounds 9 and 10 are due; the API has
/// round 9's results and none yet for round 10, where the update stops.
#[tokio::test(flavor = "multi_thread")]
async fn an_update_fetches_the_due_rounds_until_one_has_no_results() {
    let (base_url, server) = start_server().await;
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("f1.sqlite");
    std::fs::copy(common::imported_db(), &db).unwrap();
    let conn = Connection::open(&db).unwrap();
    let race_tables = [
        "results",
        "sprint_results",
        "qualifying",
        "driver_standings",
        "constructor_standings",
        "constructor_results",
        "pit_stops",
        "lap_times",
    ];
    for table in race_tables {
        conn.execute(
            &format!(
                "DELETE FROM {table} WHERE race_id IN
                 (SELECT race_id FROM races WHERE year > 2023 OR (year = 2023 AND round >= 9))"
            ),
            [],
        )
        .unwrap();
    }
    conn.execute("DELETE FROM races WHERE year > 2023", [])
        .unwrap();
    drop(conn);
    let results = |round: i64| -> i64 {
        Connection::open(&db)
            .unwrap()
            .query_row(
                "SELECT count(*) FROM results x JOIN races r USING (race_id)
                 WHERE r.year = 2023 AND r.round = ?1",
                [round],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(results(9), 0);

    let client = JolpicaClient::new(config(&base_url, &work.path().join("cache"))).unwrap();
    let summary = jolpica::update_database(&client, &db, "2023-07-15")
        .await
        .unwrap();
    assert_eq!(summary.season, Some(2023));
    assert_eq!(summary.rounds, vec![9]);
    assert_eq!(summary.pending, Some(10));
    assert_eq!(summary.written.results, 20);
    assert_eq!(results(9), 20);
    assert_eq!(results(10), 0);
    let winner: String = Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT d.surname FROM results x JOIN races r USING (race_id) JOIN drivers d USING (driver_id)
             WHERE r.year = 2023 AND r.round = 9 AND x.position = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(winner, "Verstappen");
    let asked = server.requests.load(Ordering::SeqCst);
    assert!(asked >= 6, "{asked} requests");

    // Nothing new is due before round 9's date: no request at all.
    let summary = jolpica::update_database(&client, &db, "2023-06-01")
        .await
        .unwrap();
    assert_eq!((summary.rounds.len(), summary.pending), (0, None));
    assert_eq!(server.requests.load(Ordering::SeqCst), asked);
}
