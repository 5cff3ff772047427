//! Qualifying and standings, which have no recorded responses: a local server renders
//! the CSV-imported rows of 2020 round 5 in the API's documented JSON shape, and the
//! client must write back exactly those rows.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use f1_data::jolpica::{self, ClientConfig, JolpicaClient, Resource};
use rusqlite::Connection;
use serde_json::{json, Value};

const RACE: &str = "(SELECT race_id FROM races WHERE year = 2020 AND round = 5)";

/// Points as the API writes them: `25`, `19.5`.
fn points(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{p:.0}")
    } else {
        p.to_string()
    }
}

fn driver_json(conn: &Connection, driver_id: i64) -> Value {
    conn.query_row(
        "SELECT driver_ref, number, code, url, forename, surname, dob, nationality FROM drivers WHERE driver_id = ?1",
        [driver_id],
        |r| {
            Ok(json!({
                "driverId": r.get::<_, String>(0)?,
                "permanentNumber": r.get::<_, Option<i64>>(1)?.map(|n| n.to_string()),
                "code": r.get::<_, Option<String>>(2)?,
                "url": r.get::<_, Option<String>>(3)?,
                "givenName": r.get::<_, String>(4)?,
                "familyName": r.get::<_, String>(5)?,
                "dateOfBirth": r.get::<_, Option<String>>(6)?,
                "nationality": r.get::<_, Option<String>>(7)?,
            }))
        },
    )
    .unwrap()
}

fn constructor_json(conn: &Connection, constructor_id: i64) -> Value {
    conn.query_row(
        "SELECT constructor_ref, url, name, nationality FROM constructors WHERE constructor_id = ?1",
        [constructor_id],
        |r| {
            Ok(json!({
                "constructorId": r.get::<_, String>(0)?,
                "url": r.get::<_, Option<String>>(1)?,
                "name": r.get::<_, String>(2)?,
                "nationality": r.get::<_, Option<String>>(3)?,
            }))
        },
    )
    .unwrap()
}

fn mrdata(total: usize, table: (&str, Value)) -> String {
    let mut mrdata =
        json!({"series": "f1", "limit": "100", "offset": "0", "total": total.to_string()});
    mrdata[table.0] = table.1;
    json!({ "MRData": mrdata }).to_string()
}

fn qualifying(conn: &Connection) -> String {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT driver_id, constructor_id, number, position, q1, q2, q3 FROM qualifying WHERE race_id = {RACE} ORDER BY position"
        ))
        .unwrap();
    let rows: Vec<Value> = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })
        .unwrap()
        .map(|row| {
            let (driver, constructor, number, position, q1, q2, q3) = row.unwrap();
            json!({
                "number": number.to_string(),
                "position": position.map(|p| p.to_string()),
                "Driver": driver_json(conn, driver),
                "Constructor": constructor_json(conn, constructor),
                "Q1": q1, "Q2": q2, "Q3": q3,
            })
        })
        .collect();
    let race = json!({
        "season": "2020", "round": "5", "raceName": "70th Anniversary Grand Prix",
        "date": "2020-08-09", "time": "13:10:00Z",
        "Circuit": {"circuitId": "silverstone", "circuitName": "Silverstone Circuit",
                    "Location": {"lat": "52.0786", "long": "-1.01694", "locality": "Silverstone", "country": "UK"}},
        "QualifyingResults": rows,
    });
    mrdata(
        rows_len(&race["QualifyingResults"]),
        (
            "RaceTable",
            json!({"season": "2020", "round": "5", "Races": [race]}),
        ),
    )
}

fn rows_len(v: &Value) -> usize {
    v.as_array().map_or(0, Vec::len)
}

fn standings(conn: &Connection, table: &str, entity: &str) -> String {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {entity}_id, points, position, position_text, wins FROM {table} WHERE race_id = {RACE} ORDER BY position"
        ))
        .unwrap();
    let rows: Vec<Value> = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, f64>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .unwrap()
        .map(|row| {
            let (id, p, position, position_text, wins) = row.unwrap();
            let mut line = json!({
                "position": position.map(|p| p.to_string()),
                "positionText": position_text,
                "points": points(p),
                "wins": wins.to_string(),
            });
            if entity == "driver" {
                line["Driver"] = driver_json(conn, id);
            } else {
                line["Constructor"] = constructor_json(conn, id);
            }
            line
        })
        .collect();
    let key = if entity == "driver" {
        "DriverStandings"
    } else {
        "ConstructorStandings"
    };
    let total = rows.len();
    let list = json!({"season": "2020", "round": "5", key: rows});
    mrdata(
        total,
        (
            "StandingsTable",
            json!({"season": "2020", "round": "5", "StandingsLists": [list]}),
        ),
    )
}

/// Every driver, constructor or circuit of 2020 in the API's shape; the driver list
/// also holds one driver the database has never seen.
fn entities(conn: &Connection, kind: &str) -> String {
    let (sql, table, list): (&str, &str, &str) = match kind {
        "drivers" => ("SELECT DISTINCT x.driver_id FROM results x JOIN races r USING (race_id) WHERE r.year = 2020 ORDER BY 1", "DriverTable", "Drivers"),
        "constructors" => ("SELECT DISTINCT x.constructor_id FROM results x JOIN races r USING (race_id) WHERE r.year = 2020 ORDER BY 1", "ConstructorTable", "Constructors"),
        _ => ("SELECT DISTINCT circuit_id FROM races WHERE year = 2020 ORDER BY 1", "CircuitTable", "Circuits"),
    };
    let mut stmt = conn.prepare(sql).unwrap();
    let ids: Vec<i64> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut items: Vec<Value> = ids
        .iter()
        .map(|&id| match kind {
            "drivers" => driver_json(conn, id),
            "constructors" => constructor_json(conn, id),
            _ => conn
                .query_row(
                    "SELECT circuit_ref, url, name, lat, lng, location, country FROM circuits WHERE circuit_id = ?1",
                    [id],
                    |r| {
                        Ok(json!({
                            "circuitId": r.get::<_, String>(0)?, "url": r.get::<_, Option<String>>(1)?,
                            "circuitName": r.get::<_, String>(2)?,
                            "Location": {"lat": r.get::<_, f64>(3)?.to_string(), "long": r.get::<_, f64>(4)?.to_string(),
                                         "locality": r.get::<_, String>(5)?, "country": r.get::<_, String>(6)?},
                        }))
                    },
                )
                .unwrap(),
        })
        .collect();
    if kind == "drivers" {
        items.push(
            json!({"driverId": "new_rookie", "givenName": "New", "familyName": "Rookie",
                          "dateOfBirth": "2007-01-01", "nationality": "Monegasque", "code": "ROO"}),
        );
    }
    let total = items.len();
    mrdata(total, (table, json!({ "season": "2020", list: items })))
}

async fn serve(
    State(db): State<Arc<PathBuf>>,
    UrlPath(path): UrlPath<String>,
) -> (StatusCode, String) {
    let conn = Connection::open(db.as_path()).unwrap();
    match path.as_str() {
        "2020/drivers.json" => (StatusCode::OK, entities(&conn, "drivers")),
        "2020/constructors.json" => (StatusCode::OK, entities(&conn, "constructors")),
        "2020/circuits.json" => (StatusCode::OK, entities(&conn, "circuits")),
        "2020/5/qualifying.json" => (StatusCode::OK, qualifying(&conn)),
        "2020/5/driverStandings.json" => (
            StatusCode::OK,
            standings(&conn, "driver_standings", "driver"),
        ),
        "2020/5/constructorStandings.json" => (
            StatusCode::OK,
            standings(&conn, "constructor_standings", "constructor"),
        ),
        _ => (StatusCode::NOT_FOUND, String::new()),
    }
}

fn table_rows(db: &Path, sql: &str) -> Vec<String> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let columns = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            Ok((0..columns)
                .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                .collect::<Vec<_>>()
                .join("|"))
        })
        .unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn qualifying_and_standings_round_trip() {
    let source = common::imported_db();
    let app = Router::new()
        .route("/ergast/f1/{*path}", get(serve))
        .with_state(Arc::new(source.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/ergast/f1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let queries = [
        format!("SELECT d.driver_ref, k.constructor_ref, q.number, q.position, q.q1, q.q2, q.q3 FROM qualifying q JOIN drivers d USING (driver_id) JOIN constructors k USING (constructor_id) WHERE q.race_id = {RACE} ORDER BY q.position"),
        format!("SELECT d.driver_ref, s.points, s.position, s.position_text, s.wins FROM driver_standings s JOIN drivers d USING (driver_id) WHERE s.race_id = {RACE} ORDER BY s.position"),
        format!("SELECT k.constructor_ref, s.points, s.position, s.position_text, s.wins FROM constructor_standings s JOIN constructors k USING (constructor_id) WHERE s.race_id = {RACE} ORDER BY s.position"),
    ];
    let expected: Vec<Vec<String>> = queries.iter().map(|q| table_rows(&source, q)).collect();
    assert_eq!(
        expected.iter().map(Vec::len).collect::<Vec<_>>(),
        [20, 21, 10] // Hülkenberg stood in for Pérez in rounds 4 and 5
    );

    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("f1.sqlite");
    std::fs::copy(&source, &db).unwrap();
    Connection::open(&db)
        .unwrap()
        .execute_batch(&format!(
            "DELETE FROM qualifying WHERE race_id = {RACE};
             DELETE FROM driver_standings WHERE race_id = {RACE};
             DELETE FROM constructor_standings WHERE race_id = {RACE};"
        ))
        .unwrap();

    let mut config = ClientConfig::new(work.path().join("cache"));
    config.base_url = base_url;
    let client = JolpicaClient::new(config).unwrap();
    let resources = [
        Resource::Qualifying,
        Resource::DriverStandings,
        Resource::ConstructorStandings,
    ];
    let summary = jolpica::fetch_into_database(&client, &db, 2020, Some(5), &resources)
        .await
        .unwrap();
    assert_eq!(
        (
            summary.written.qualifying,
            summary.written.driver_standings,
            summary.written.constructor_standings
        ),
        (20, 21, 10)
    );
    for (query, expected) in queries.iter().zip(&expected) {
        assert_eq!(&table_rows(&db, query), expected, "{query}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn drivers_constructors_and_circuits_are_upserted_by_reference() {
    let source = common::imported_db();
    let app = Router::new()
        .route("/ergast/f1/{*path}", get(serve))
        .with_state(Arc::new(source.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/ergast/f1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let profiles = "SELECT driver_ref, number, code, forename, surname, dob, nationality FROM drivers ORDER BY driver_id";
    let teams =
        "SELECT constructor_ref, name, nationality FROM constructors ORDER BY constructor_id";
    let places =
        "SELECT circuit_ref, name, location, country, lat, lng FROM circuits ORDER BY circuit_id";
    let expected: Vec<Vec<String>> = [profiles, teams, places]
        .iter()
        .map(|q| table_rows(&source, q))
        .collect();

    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("f1.sqlite");
    std::fs::copy(&source, &db).unwrap();
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "UPDATE drivers SET nationality = 'unknown', forename = 'x' WHERE driver_ref IN ('hamilton', 'latifi');
             UPDATE constructors SET name = 'Someone' WHERE constructor_ref = 'williams';
             UPDATE circuits SET country = 'Nowhere' WHERE circuit_ref = 'silverstone';",
        )
        .unwrap();

    let mut config = ClientConfig::new(work.path().join("cache"));
    config.base_url = base_url;
    let client = JolpicaClient::new(config).unwrap();
    let resources = [
        Resource::Drivers,
        Resource::Constructors,
        Resource::Circuits,
    ];
    let summary = jolpica::fetch_into_database(&client, &db, 2020, None, &resources)
        .await
        .unwrap();
    assert_eq!(
        (
            summary.written.drivers,
            summary.written.constructors,
            summary.written.circuits
        ),
        (24, 10, 14) // 23 drivers and a rookie; 17 races at 14 circuits
    );

    let mut drivers = table_rows(&db, profiles);
    let rookie = drivers.pop().unwrap();
    assert!(
        rookie.starts_with("Text(\"new_rookie\")|Null|Text(\"ROO\")"),
        "{rookie}"
    );
    assert_eq!(
        drivers, expected[0],
        "damaged profiles restored, no other change"
    );
    assert_eq!(table_rows(&db, teams), expected[1]);
    assert_eq!(table_rows(&db, places), expected[2]);
}
