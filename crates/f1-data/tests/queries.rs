//! The query layer against hand-checked facts from the real data.

mod common;

use f1_data::KnowledgeBase;

fn kb() -> KnowledgeBase {
    KnowledgeBase::open(&common::imported_db()).unwrap()
}

#[test]
fn race_by_season_round_and_by_name() {
    let kb = kb();
    let race = kb.race(2021, 22).unwrap().unwrap();
    assert_eq!(race.name, "Abu Dhabi Grand Prix");
    assert_eq!(race.circuit_name, "Yas Marina Circuit");
    let found = kb.find_races("abu dhabi", Some(2021)).unwrap();
    assert_eq!(found, vec![race]);
    assert!(kb.race(2021, 99).unwrap().is_none());
}

#[test]
fn winner_and_podium_of_2021_abu_dhabi() {
    let kb = kb();
    let race = kb.race(2021, 22).unwrap().unwrap();
    assert_eq!(
        kb.winner(race.race_id).unwrap().unwrap().driver_name,
        "Max Verstappen"
    );
    let podium: Vec<String> = kb
        .podium(race.race_id)
        .unwrap()
        .into_iter()
        .map(|r| r.driver_name)
        .collect();
    assert_eq!(podium, ["Max Verstappen", "Lewis Hamilton", "Carlos Sainz"]);
}

#[test]
fn pole_qualifying_and_fastest_lap_of_the_70th_anniversary_gp() {
    let kb = kb();
    let race = kb.race(2020, 5).unwrap().unwrap();
    assert_eq!(race.name, "70th Anniversary Grand Prix");
    assert_eq!(
        kb.pole_sitter(race.race_id).unwrap().unwrap().driver_name,
        "Valtteri Bottas"
    );
    let qualifying = kb.qualifying(race.race_id).unwrap();
    assert_eq!(qualifying[0].driver_name, "Valtteri Bottas");
    assert_eq!(qualifying[0].q3.as_deref(), Some("1:25.154"));
    let lap = kb.fastest_lap(race.race_id).unwrap().unwrap();
    assert_eq!(
        (lap.driver_name.as_str(), lap.time.as_str()),
        ("Lewis Hamilton", "1:28.451")
    );
    assert_eq!(lap.lap, Some(43));
}

#[test]
fn driver_and_constructor_profiles() {
    let kb = kb();
    let max = kb.driver("max_verstappen").unwrap().unwrap();
    assert_eq!(max.full_name(), "Max Verstappen");
    assert_eq!(max.dob.as_deref(), Some("1997-09-30"));
    assert_eq!(max.code.as_deref(), Some("VER"));
    assert_eq!(max.number, Some(33));
    assert_eq!(max.nationality.as_deref(), Some("Dutch"));
    let schumachers = kb.find_drivers("Schumacher").unwrap();
    let names: Vec<String> = schumachers.iter().map(|d| d.full_name()).collect();
    assert_eq!(
        names,
        ["Ralf Schumacher", "Michael Schumacher", "Mick Schumacher"]
    );
    let ferrari = kb.constructor("Ferrari").unwrap().unwrap();
    assert_eq!(ferrari.nationality.as_deref(), Some("Italian"));
    assert_eq!(
        kb.constructor("red_bull").unwrap().unwrap().name,
        "Red Bull"
    );
}

#[test]
fn hamilton_career_totals() {
    let kb = kb();
    let hamilton = kb.driver("hamilton").unwrap().unwrap();
    let career = kb.driver_career(hamilton.driver_id).unwrap();
    assert_eq!(career.wins, 105);
    assert_eq!(career.podiums, 202);
    assert_eq!(career.poles, 104);
    assert_eq!(career.titles, 7);
    assert_eq!(career.starts, 374);
}

#[test]
fn starts_exclude_non_qualifications() {
    let kb = kb();
    // Perry McCarthy entered seven 1992 races for Andrea Moda and started none: six
    // non-prequalifications/non-qualifications and one exclusion from qualifying.
    let mccarthy = kb.find_drivers("Perry McCarthy").unwrap().remove(0);
    let career = kb.driver_career(mccarthy.driver_id).unwrap();
    assert!(career.entries > 0);
    assert_eq!(career.starts, 0, "{career:?}");
}

#[test]
fn constructor_totals() {
    let kb = kb();
    let ferrari = kb.constructor("ferrari").unwrap().unwrap();
    let totals = kb.constructor_career(ferrari.constructor_id).unwrap();
    assert_eq!(totals.titles, 16);
    assert!(totals.wins >= 240, "{totals:?}");
}

#[test]
fn champions_and_standings() {
    let kb = kb();
    assert_eq!(
        kb.season_champions(1950).unwrap().unwrap().driver_name,
        "Nino Farina"
    );
    assert_eq!(
        kb.season_champions(1950).unwrap().unwrap().constructor_name,
        None
    );
    let c2024 = kb.season_champions(2024).unwrap().unwrap();
    assert_eq!(c2024.driver_name, "Max Verstappen");
    assert_eq!(c2024.constructor_name.as_deref(), Some("McLaren"));
    assert!(
        kb.season_champions(2025).unwrap().is_none(),
        "2025 is unfinished in the data"
    );

    // After round 1 of 2021 (Bahrain) Hamilton led; after the last round Verstappen.
    let after_one = kb.driver_standings(2021, Some(1)).unwrap();
    assert_eq!(after_one[0].name, "Lewis Hamilton");
    assert_eq!(after_one[0].points, 25.0);
    let final_2021 = kb.driver_standings(2021, None).unwrap();
    assert_eq!(
        (final_2021[0].name.as_str(), final_2021[0].points),
        ("Max Verstappen", 395.5)
    );
    assert_eq!(final_2021[1].points, 387.5);
    let constructors = kb.constructor_standings(2021, None).unwrap();
    assert_eq!(constructors[0].name, "Mercedes");
}

#[test]
fn teammates_and_teams_in_a_season() {
    let kb = kb();
    let hamilton = kb.driver("hamilton").unwrap().unwrap();
    let mates = kb.teammates(hamilton.driver_id, 2007).unwrap();
    assert_eq!(mates.len(), 1);
    assert_eq!(mates[0].driver.full_name(), "Fernando Alonso");
    assert_eq!(mates[0].constructor_name, "McLaren");
    assert_eq!(
        kb.driver_teams(hamilton.driver_id, 2025).unwrap(),
        ["Ferrari"]
    );
}

#[test]
fn circuits_and_races_held_there() {
    let kb = kb();
    let monza = kb.circuit("monza").unwrap().unwrap();
    assert_eq!(monza.country.as_deref(), Some("Italy"));
    let races = kb.races_at_circuit(monza.circuit_id).unwrap();
    assert_eq!(
        (races[0].season, races[0].name.as_str()),
        (1950, "Italian Grand Prix")
    );
    assert!(races.len() >= 74, "{}", races.len());
}

#[test]
fn sprint_results_and_pit_stops() {
    let kb = kb();
    let silverstone_2021 = kb.race(2021, 10).unwrap().unwrap();
    let sprint = kb.sprint_results(silverstone_2021.race_id).unwrap();
    assert_eq!(sprint[0].driver_name, "Max Verstappen");
    assert_eq!(sprint[0].points, 3.0);
    assert!(kb
        .sprint_results(kb.race(2021, 1).unwrap().unwrap().race_id)
        .unwrap()
        .is_empty());

    let race = kb.race(2020, 5).unwrap().unwrap();
    let stops = kb.pit_stops(race.race_id).unwrap();
    assert!(!stops.is_empty());
    let fastest = stops.iter().filter_map(|s| s.milliseconds).min().unwrap();
    assert!(fastest > 15_000 && fastest < 40_000, "{fastest}");
}
