//! A small fact set compiled into the binary: the champions of every complete season.
//!
//! Used, with a notice, when no Ergast data is available, so the study still runs on
//! a fresh offline machine. Names are spelled as the Ergast tables spell them; a test
//! checks every fact against ../shared/data/ergast.

use std::path::Path;

use crate::error::Result;
use crate::store;

/// `(season, drivers' champion, constructors' champion)`; the constructors'
/// championship began in 1958.
pub const CHAMPIONS: &[(i64, &str, Option<&str>)] = &[
    (1950, "Nino Farina", None),
    (1951, "Juan Fangio", None),
    (1952, "Alberto Ascari", None),
    (1953, "Alberto Ascari", None),
    (1954, "Juan Fangio", None),
    (1955, "Juan Fangio", None),
    (1956, "Juan Fangio", None),
    (1957, "Juan Fangio", None),
    (1958, "Mike Hawthorn", Some("Vanwall")),
    (1959, "Jack Brabham", Some("Cooper-Climax")),
    (1960, "Jack Brabham", Some("Cooper-Climax")),
    (1961, "Phil Hill", Some("Ferrari")),
    (1962, "Graham Hill", Some("BRM")),
    (1963, "Jim Clark", Some("Lotus-Climax")),
    (1964, "John Surtees", Some("Ferrari")),
    (1965, "Jim Clark", Some("Lotus-Climax")),
    (1966, "Jack Brabham", Some("Brabham-Repco")),
    (1967, "Denny Hulme", Some("Brabham-Repco")),
    (1968, "Graham Hill", Some("Lotus-Ford")),
    (1969, "Jackie Stewart", Some("Matra-Ford")),
    (1970, "Jochen Rindt", Some("Team Lotus")),
    (1971, "Jackie Stewart", Some("Tyrrell")),
    (1972, "Emerson Fittipaldi", Some("Team Lotus")),
    (1973, "Jackie Stewart", Some("Team Lotus")),
    (1974, "Emerson Fittipaldi", Some("McLaren")),
    (1975, "Niki Lauda", Some("Ferrari")),
    (1976, "James Hunt", Some("Ferrari")),
    (1977, "Niki Lauda", Some("Ferrari")),
    (1978, "Mario Andretti", Some("Team Lotus")),
    (1979, "Jody Scheckter", Some("Ferrari")),
    (1980, "Alan Jones", Some("Williams")),
    (1981, "Nelson Piquet", Some("Williams")),
    (1982, "Keke Rosberg", Some("Ferrari")),
    (1983, "Nelson Piquet", Some("Ferrari")),
    (1984, "Niki Lauda", Some("McLaren")),
    (1985, "Alain Prost", Some("McLaren")),
    (1986, "Alain Prost", Some("Williams")),
    (1987, "Nelson Piquet", Some("Williams")),
    (1988, "Ayrton Senna", Some("McLaren")),
    (1989, "Alain Prost", Some("McLaren")),
    (1990, "Ayrton Senna", Some("McLaren")),
    (1991, "Ayrton Senna", Some("McLaren")),
    (1992, "Nigel Mansell", Some("Williams")),
    (1993, "Alain Prost", Some("Williams")),
    (1994, "Michael Schumacher", Some("Williams")),
    (1995, "Michael Schumacher", Some("Benetton")),
    (1996, "Damon Hill", Some("Williams")),
    (1997, "Jacques Villeneuve", Some("Williams")),
    (1998, "Mika Häkkinen", Some("McLaren")),
    (1999, "Mika Häkkinen", Some("Ferrari")),
    (2000, "Michael Schumacher", Some("Ferrari")),
    (2001, "Michael Schumacher", Some("Ferrari")),
    (2002, "Michael Schumacher", Some("Ferrari")),
    (2003, "Michael Schumacher", Some("Ferrari")),
    (2004, "Michael Schumacher", Some("Ferrari")),
    (2005, "Fernando Alonso", Some("Renault")),
    (2006, "Fernando Alonso", Some("Renault")),
    (2007, "Kimi Räikkönen", Some("Ferrari")),
    (2008, "Lewis Hamilton", Some("Ferrari")),
    (2009, "Jenson Button", Some("Brawn")),
    (2010, "Sebastian Vettel", Some("Red Bull")),
    (2011, "Sebastian Vettel", Some("Red Bull")),
    (2012, "Sebastian Vettel", Some("Red Bull")),
    (2013, "Sebastian Vettel", Some("Red Bull")),
    (2014, "Lewis Hamilton", Some("Mercedes")),
    (2015, "Lewis Hamilton", Some("Mercedes")),
    (2016, "Nico Rosberg", Some("Mercedes")),
    (2017, "Lewis Hamilton", Some("Mercedes")),
    (2018, "Lewis Hamilton", Some("Mercedes")),
    (2019, "Lewis Hamilton", Some("Mercedes")),
    (2020, "Lewis Hamilton", Some("Mercedes")),
    (2021, "Max Verstappen", Some("Mercedes")),
    (2022, "Max Verstappen", Some("Red Bull")),
    (2023, "Max Verstappen", Some("Red Bull")),
    (2024, "Max Verstappen", Some("McLaren")),
];

/// Writes a knowledge base holding only the embedded champions to `db_path`,
/// replacing any database there atomically.
pub fn import_fallback(db_path: &Path) -> Result<usize> {
    let (temp, mut conn) = store::create_temp(db_path)?;
    let tx = conn.transaction()?;
    {
        let mut season = tx.prepare("INSERT INTO seasons (year) VALUES (?1)")?;
        let mut champion = tx.prepare(
            "INSERT INTO season_champions (year, driver_name, constructor_name) VALUES (?1, ?2, ?3)",
        )?;
        for (year, driver, constructor) in CHAMPIONS {
            season.execute([year])?;
            champion.execute(rusqlite::params![year, driver, constructor])?;
        }
    }
    store::set_meta(&tx, "source", "fallback")?;
    tx.commit()?;
    crate::documents::carry_over(&conn, db_path)?;
    store::persist(temp, conn, db_path)?;
    Ok(CHAMPIONS.len())
}
