//! The tools on the real Ergast tables: a fan's names resolved, answers read from
//! the rows, and bad calls refused without touching the data.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use f1_tools::execute::TRUNCATED;
use f1_tools::{ToolCall, ToolError, Toolbox};
use serde_json::{json, Value};

fn shared_data() -> PathBuf {
    std::env::var_os("F1AI_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

/// The knowledge base imported once per test binary.
fn database() -> &'static Path {
    static DB: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DB.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("f1.sqlite");
        f1_data::import_ergast(&shared_data().join("ergast"), &db).unwrap();
        (dir, db)
    })
    .1
}

/// One toolbox per binary (a SQLite connection is used by one thread at a time).
fn toolbox() -> MutexGuard<'static, Toolbox> {
    static TOOLBOX: OnceLock<Mutex<Toolbox>> = OnceLock::new();
    TOOLBOX
        .get_or_init(|| Mutex::new(Toolbox::open(database()).unwrap()))
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn run(name: &str, arguments: Value) -> Result<Value, ToolError> {
    toolbox().run(&ToolCall::new(name, arguments))
}

#[test]
fn the_2021_finale_is_found_however_it_is_named() {
    for (race, season) in [
        (json!("2021 Abu Dhabi Grand Prix"), None),
        (json!("Abu Dhabi GP"), Some(json!(2021))),
        (json!("the 2021 finale"), None),
        (json!("Yas Marina"), Some(json!("2021"))),
        (json!("abu dabi 2021"), None),
        (json!("round 22"), Some(json!(2021))),
    ] {
        let mut arguments = json!({"race": race});
        if let Some(season) = season {
            arguments["season"] = season;
        }
        let value = run("race_result", arguments.clone()).unwrap();
        assert_eq!(value["race"], "2021 Abu Dhabi Grand Prix", "{arguments}");
        assert_eq!(value["winner"]["driver"], "Max Verstappen");
        assert_eq!(value["second"]["driver"], "Lewis Hamilton");
        assert_eq!(value["winner"]["team"], "Red Bull");
    }
    let interlagos = run("qualifying", json!({"race": "Interlagos 2016"})).unwrap();
    assert_eq!(interlagos["race"], "2016 Brazilian Grand Prix");
    assert_eq!(interlagos["pole"]["driver"], "Lewis Hamilton");
}

#[test]
fn relative_words_name_races_and_drivers() {
    let race = |words: &str| {
        run("race_result", json!({"race": words})).unwrap()["race"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(race("the first race of 2019"), "2019 Australian Grand Prix");
    assert_eq!(race("last race of 2021"), "2021 Abu Dhabi Grand Prix");
    // The data's latest complete season is 2024; 2025 has results to round 18.
    assert_eq!(race("Dutch GP last season"), "2024 Dutch Grand Prix");
    assert_eq!(
        race("the latest race this season"),
        "2025 Singapore Grand Prix"
    );
    assert_eq!(race("most recent grand prix"), "2025 Singapore Grand Prix");
    let driver = run("driver_profile", json!({"driver": "Seb Vettel"})).unwrap();
    assert_eq!(driver["driver"], "Sebastian Vettel");
}

#[test]
fn a_race_without_a_year_is_ambiguous_not_guessed() {
    let error = run("race_result", json!({"race": "Abu Dhabi Grand Prix"})).unwrap_err();
    let ToolError::Ambiguous { candidates, .. } = &error else {
        panic!("{error:?}");
    };
    assert!(candidates.contains(&"2021 Abu Dhabi Grand Prix".to_string()) || candidates.len() == 8);
    assert!(
        candidates[0].ends_with("Abu Dhabi Grand Prix"),
        "{candidates:?}"
    );
    let json = error.to_json();
    assert_eq!(json["error"], "ambiguous");
    assert!(json["candidates"].as_array().is_some_and(|c| !c.is_empty()));
}

#[test]
fn drivers_are_found_by_nickname_accent_misspelling_and_season() {
    let driver =
        |name: &str| run("driver_profile", json!({"driver": name})).map(|v| v["driver"].clone());
    assert_eq!(driver("Checo").unwrap(), "Sergio Pérez");
    assert_eq!(driver("Hulkenberg").unwrap(), "Nico Hülkenberg");
    assert_eq!(driver("Max").unwrap(), "Max Verstappen");
    assert_eq!(driver("hamiltn").unwrap(), "Lewis Hamilton");
    assert_eq!(driver("Hamilton").unwrap(), "Lewis Hamilton");
    assert_eq!(driver("HAM").unwrap(), "Lewis Hamilton");
    let ambiguous = driver("Schumacher").unwrap_err();
    let ToolError::Ambiguous { candidates, .. } = &ambiguous else {
        panic!("{ambiguous:?}");
    };
    assert!(
        candidates.contains(&"Michael Schumacher".to_string()),
        "{candidates:?}"
    );
    assert!(
        candidates.contains(&"Ralf Schumacher".to_string()),
        "{candidates:?}"
    );
    let mick = run(
        "driver_season",
        json!({"driver": "Schumacher", "season": 2021}),
    )
    .unwrap();
    assert_eq!(mick["driver"], "Mick Schumacher");
    assert_eq!(mick["teams"], json!(["Haas F1 Team"]));
    let missing = driver("Zzyzx Qwerty").unwrap_err();
    assert_eq!(missing.kind(), "not_found");
}

#[test]
fn profiles_and_seasons_answer_from_the_tables() {
    let hamilton = run("driver_profile", json!({"driver": "Lewis Hamilton"})).unwrap();
    assert_eq!(hamilton["titles"], 7);
    assert_eq!(hamilton["first_season"], 2007);
    assert_eq!(hamilton["nationality"], "British");
    let last = toolbox().resolver().last_complete_season;
    let summary = run("season_summary", json!({"season": "last season"})).unwrap();
    assert_eq!(summary["season"], last);
    assert!(summary["drivers_champion"].is_string());
    let season_2021 = run("season_summary", json!({"season": 2021})).unwrap();
    assert_eq!(season_2021["drivers_champion"], "Max Verstappen");
    assert_eq!(season_2021["constructors_champion"], "Mercedes");
    assert_eq!(season_2021["runner_up"]["driver"], "Lewis Hamilton");
    assert_eq!(season_2021["races"], 22);
    let after_spain = run("standings", json!({"season": 2021, "after_round": 4})).unwrap();
    assert_eq!(after_spain["table"][0]["name"], "Lewis Hamilton");
    let after_monaco = run("standings", json!({"season": 2021, "after_round": 5})).unwrap();
    assert_eq!(after_monaco["table"][0]["name"], "Max Verstappen");
    let teams = run(
        "standings",
        json!({"season": 2021, "championship": "constructors"}),
    )
    .unwrap();
    assert_eq!(teams["table"][0]["name"], "Mercedes");
    let ferrari = run("team_profile", json!({"team": "Scuderia Ferrari"})).unwrap();
    assert_eq!(ferrari["team"], "Ferrari");
    assert_eq!(ferrari["first_season"], 1950);
    // A misspelling the model made in the quick study: "Monsanto" copied wrong.
    let monsanto = run("circuit_info", json!({"circuit": "Montana Park Circuit"})).unwrap();
    assert_eq!(monsanto["country"], "Portugal");
    let monza = run("circuit_info", json!({"circuit": "Monza"})).unwrap();
    assert_eq!(monza["country"], "Italy");
    assert_eq!(monza["first_grand_prix"]["race"], "1950 Italian Grand Prix");
    let h2h = run(
        "head_to_head",
        json!({"driver": "Hamilton", "other": "Bottas", "season": 2021}),
    )
    .unwrap();
    assert_eq!(h2h["teams"], json!(["Mercedes"]));
    assert!(h2h["finished_ahead"]["Lewis Hamilton"].as_i64().unwrap() > 10);
}

#[test]
fn what_the_data_lacks_is_an_error_that_says_so() {
    let future = run("season_summary", json!({"season": 2031})).unwrap_err();
    assert_eq!(future.kind(), "no_data");
    assert!(future.to_string().contains("2031"), "{future}");
    let no_sprint = run(
        "sprint_result",
        json!({"race": "2016 Brazilian Grand Prix"}),
    )
    .unwrap_err();
    assert_eq!(no_sprint.kind(), "no_data");
    let unknown_season = run("season_summary", json!({"season": "the good old days"})).unwrap_err();
    assert_eq!(unknown_season.kind(), "not_found");
}

#[test]
fn arguments_are_bound_values_never_sql() {
    let before = f1_data::KnowledgeBase::open(database())
        .unwrap()
        .table_counts()
        .unwrap();
    for injection in [
        "'; DROP TABLE drivers; --",
        "Hamilton' OR '1'='1",
        "\" UNION SELECT * FROM sqlite_master --",
    ] {
        let error = run("driver_profile", json!({"driver": injection})).unwrap_err();
        assert_eq!(error.kind(), "not_found", "{injection}: {error}");
        let race = run("race_result", json!({"race": injection, "season": 2021})).unwrap_err();
        assert_eq!(race.kind(), "not_found", "{injection}: {race}");
    }
    let after = f1_data::KnowledgeBase::open(database())
        .unwrap()
        .table_counts()
        .unwrap();
    assert_eq!(before, after);
}

#[test]
fn bad_calls_are_refused_with_a_reason_and_results_are_cut_with_a_marker() {
    let outcome = toolbox().outcome(
        &ToolCall::new("execute_sql", json!({"query": "DELETE"})),
        500,
    );
    assert!(!outcome.is_ok());
    let error: Value = serde_json::from_str(&outcome.text).unwrap();
    assert_eq!(error["error"], "unknown_tool");
    let wrong_type = toolbox().outcome(
        &ToolCall::new("season_summary", json!({"season": [1]})),
        500,
    );
    assert_eq!(wrong_type.status, "invalid_arguments");
    assert!(
        wrong_type.text.contains("invalid_arguments"),
        "{}",
        wrong_type.text
    );
    let long = toolbox().outcome(
        &ToolCall::new("season_summary", json!({"season": 2021})),
        80,
    );
    assert!(long.is_ok());
    assert_eq!(long.text.chars().count(), 80);
    assert!(long.text.ends_with(TRUNCATED), "{}", long.text);
    let whole = toolbox().outcome(
        &ToolCall::new("season_summary", json!({"season": 2021})),
        4000,
    );
    assert!(serde_json::from_str::<Value>(&whole.text).is_ok());
}

#[test]
fn two_digit_years_and_city_names_find_races() {
    let race = |arguments: Value| {
        run("race_result", arguments).unwrap()["race"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(race(json!({"race": "spa 98"})), "1998 Belgian Grand Prix");
    assert_eq!(race(json!({"race": "Spa '08"})), "2008 Belgian Grand Prix");
    assert_eq!(
        race(json!({"race": "barcelona 2016"})),
        "2016 Spanish Grand Prix"
    );
    // A round's number is not a year.
    assert_eq!(
        race(json!({"race": "round 12", "season": 2019})),
        "2019 Hungarian Grand Prix"
    );
    assert_eq!(
        race(json!({"race": "monza", "season": "21"})),
        "2021 Italian Grand Prix"
    );
    let circuit = run("circuit_info", json!({"circuit": "Barcelona"})).unwrap();
    assert_eq!(circuit["circuit"], "Circuit de Barcelona-Catalunya");
    let cota = run("circuit_info", json!({"circuit": "COTA"})).unwrap();
    assert_eq!(cota["circuit"], "Circuit of the Americas");
}

#[test]
fn a_fans_words_name_a_race_only_when_they_name_one() {
    let toolbox = toolbox();
    let named = |words: &str| toolbox.resolver().race_in_words(words).map(|r| r.label());
    for (words, race) in [
        ("Who won at Spa in 98?", "1998 Belgian Grand Prix"),
        ("who came third in bahrain 2014", "2014 Bahrain Grand Prix"),
        (
            "hey, who won the opening race of 2013??",
            "2013 Australian Grand Prix",
        ),
        ("who won the monacco gp in 2018", "2018 Monaco Grand Prix"),
        ("pole at Suzuka last season?", "2024 Japanese Grand Prix"),
    ] {
        assert_eq!(named(words).as_deref(), Some(race), "{words}");
    }
    for words in [
        "who won at monaco?",                      // no season
        "who won more, monaco 2018 or 2019?",      // two seasons
        "who won in 2019, monaco or silverstone?", // two races
        "who won the 2019 title?",                 // no race
    ] {
        assert_eq!(named(words), None, "{words}");
    }

    // A call whose race was not found, redone with the race the words name.
    let call = ToolCall::new(
        "race_result",
        json!({"race": "third at bahrain", "season": 2014}),
    );
    assert!(toolbox.run(&call).is_err());
    let redone = toolbox
        .with_race_from(&call, "who came third in bahrain 2014")
        .unwrap();
    assert_eq!(redone.arguments["race"], "2014 Bahrain Grand Prix");
    assert!(!redone.arguments.contains_key("season"));
    assert_eq!(
        toolbox.run(&redone).unwrap()["third"]["driver"],
        "Sergio Pérez"
    );
    // Calls without a race, and words naming none, are left alone.
    let profile = ToolCall::new("driver_profile", json!({"driver": "Senna"}));
    assert!(toolbox.with_race_from(&profile, "spa 98").is_none());
    assert!(toolbox
        .with_race_from(&call, "who won at monaco?")
        .is_none());
}
