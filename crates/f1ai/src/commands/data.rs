//! `f1ai data ...`: import, fetch and inspect the knowledge base.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{bail, Context, Result};
use f1_data::f1db::{self, Prefer};
use f1_data::jolpica::{self, ClientConfig, JolpicaClient, Resource};
use f1_data::{fallback, KnowledgeBase};
use f1_dataset::card::{multi_turn_share, Provenance, TokenStats};
use f1_dataset::config::Profile;
use f1_dataset::DataConfig;
use f1_scrape::{ScrapeConfig, Scraper};

use crate::cli::{BuildArgs, DataCommand, FetchArgs, ImportArgs, ScrapeArgs, UpdateArgs};
use crate::workspace::Workspace;

pub fn run(command: DataCommand, workspace: &Workspace) -> Result<()> {
    match command {
        DataCommand::Import(args) => import(args, workspace),
        DataCommand::Fetch(args) => fetch(args, workspace),
        DataCommand::Update(args) => update(args, workspace),
        DataCommand::Stats => stats(workspace),
        DataCommand::Build(args) => build(args, workspace),
        DataCommand::Scrape(args) => scrape(args, workspace),
        DataCommand::Augment(args) => super::augment::run(args, workspace),
    }
}

fn import(args: ImportArgs, workspace: &Workspace) -> Result<()> {
    let db = workspace.database();
    if let Some(f1db) = &args.f1db {
        return import_with_f1db(f1db, args.ergast_dir.as_deref(), args.prefer, workspace);
    }
    let ergast_dir = match (args.fallback, args.ergast_dir) {
        (true, _) => None,
        (false, Some(dir)) => Some(dir),
        (false, None) => Some(workspace.default_ergast_dir()).filter(|d| d.is_dir()),
    };
    let Some(dir) = ergast_dir else {
        if !args.fallback {
            keep_real_tables(&db)?;
        }
        eprintln!(
            "notice: no Ergast CSV tables found (looked in {}; pass --ergast-dir DIR).\n\
             notice: using the embedded fallback fact set: the drivers' and constructors' \
             champions of every complete season. Question families are limited to champions.",
            workspace.default_ergast_dir().display()
        );
        let seasons =
            fallback::import_fallback(&db).with_context(|| format!("writing {}", db.display()))?;
        println!("wrote {} (fallback: {seasons} seasons)", db.display());
        return Ok(());
    };
    import_ergast(&dir, &db)?;
    Ok(())
}

fn import_ergast(dir: &Path, db: &Path) -> Result<()> {
    let summary = f1_data::import_ergast(dir, db)
        .with_context(|| format!("importing {} into {}", dir.display(), db.display()))?;
    println!(
        "imported {} into {} in {:.1}s",
        dir.display(),
        db.display(),
        summary.elapsed.as_secs_f64()
    );
    println!("{:<24} {:>8}", "table", "rows");
    for (table, rows) in &summary.integrity.row_counts {
        println!("{table:<24} {rows:>8}");
    }
    print_checks(&summary.integrity);
    Ok(())
}

fn print_checks(integrity: &f1_data::integrity::IntegrityReport) {
    println!("integrity checks:");
    for check in &integrity.checks {
        println!("  {:<40} {} violations", check.name, check.violations);
    }
    println!(
        "  shared drives (one driver, several cars, allowed): {}",
        integrity.shared_drives
    );
    println!("total violations: {}", integrity.violations());
}

/// Merges F1DB into the knowledge base (into a fresh Ergast import when
/// `ergast_dir` is given), reconciling the races both hold.
fn import_with_f1db(
    f1db: &Path,
    ergast_dir: Option<&Path>,
    prefer: Option<Prefer>,
    workspace: &Workspace,
) -> Result<()> {
    let db = workspace.database();
    // A fresh Ergast import goes to a scratch folder first, so that a refused
    // merge leaves the database as it was.
    let scratch = tempfile::tempdir().context("creating a scratch folder")?;
    let staged = match ergast_dir {
        Some(dir) => {
            let path = scratch.path().join("ergast.sqlite");
            import_ergast(dir, &path)?;
            Some(path)
        }
        None => None,
    };
    let base = match &staged {
        Some(path) => Some(path.as_path()),
        None => db.is_file().then_some(db.as_path()),
    };
    let import = f1db::import_f1db(f1db, base, &db, prefer).with_context(|| {
        format!(
            "importing F1DB from {} into {}",
            f1db.display(),
            db.display()
        )
    })?;
    let report = &import.reconciliation;
    crate::output::write_json(
        &workspace.metrics_dir().join("reconciliation.json"),
        &serde_json::json!({
            "f1db": f1db.display().to_string(),
            "prefer": prefer.map(|p| format!("{p:?}").to_lowercase()),
            "matches": import.matches,
            "reconciliation": report,
            "imported": import.written.is_some(),
        }),
    )?;
    println!(
        "reconciled {} races both sources hold: {} classification rows, {} standings entries; \
         {} disagreements, {} explained differences",
        report.races_compared,
        report.rows_compared,
        report.standings_compared,
        report.disagreements.len(),
        report.explained.len()
    );
    let m = import.matches;
    println!(
        "matched to existing rows: {} drivers ({} new), {} constructors ({} new), {} circuits ({} new)",
        m.drivers_matched, m.drivers_new, m.constructors_matched, m.constructors_new,
        m.circuits_matched, m.circuits_new
    );
    for difference in &report.disagreements {
        let kept = match prefer {
            Some(Prefer::F1db) => "  F1DB's value kept: ",
            Some(Prefer::Ergast) => "  the knowledge base's value kept: ",
            None => "  ",
        };
        println!("{kept}{difference}");
    }
    let (Some(written), Some(integrity)) = (import.written, import.integrity) else {
        bail!(
            "F1DB and the knowledge base disagree on {} values (listed above and in \
             results/metrics/reconciliation.json); {} is unchanged. Pass --prefer f1db or \
             --prefer ergast to say which source wins",
            report.disagreements.len(),
            db.display()
        );
    };
    println!(
        "merged {} into {}: {} races, {} results, {} sprint results, {} qualifying, \
         {} driver and {} constructor standings",
        f1db.display(),
        db.display(),
        written.races,
        written.results,
        written.sprint_results,
        written.qualifying,
        written.driver_standings,
        written.constructor_standings
    );
    print_checks(&integrity);
    Ok(())
}

/// Refuses to replace a knowledge base built from real tables with the fallback
/// fact set when no tables were found: only `--fallback` may do that.
fn keep_real_tables(db: &Path) -> Result<()> {
    if !db.is_file() {
        return Ok(());
    }
    let source = KnowledgeBase::open(db)
        .and_then(|kb| kb.source())
        .with_context(|| format!("reading {}", db.display()))?;
    match source {
        Some(source) if source != "fallback" => bail!(
            "no Ergast CSV tables found, and {} holds a knowledge base imported from {source}; \
             it is kept. Pass --ergast-dir DIR to import tables, or --fallback to replace it \
             with the embedded champions-only fact set",
            db.display()
        ),
        _ => Ok(()),
    }
}

fn update(args: UpdateArgs, workspace: &Workspace) -> Result<()> {
    let db = workspace.database();
    if !db.is_file() {
        bail!(
            "no knowledge base at {}: run `f1ai data import` first",
            db.display()
        );
    }
    let until = match args.until {
        Some(date) => {
            let valid = date.len() == 10
                && date.bytes().enumerate().all(|(i, b)| {
                    if i == 4 || i == 7 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                });
            if !valid {
                bail!("--until {date}: expected a date as YYYY-MM-DD");
            }
            date
        }
        None => {
            humantime::format_rfc3339(std::time::SystemTime::now()).to_string()[..10].to_string()
        }
    };
    let mut config = ClientConfig::new(workspace.jolpica_cache());
    config.base_url = args.base_url;
    config.refresh = args.refresh;
    let client = JolpicaClient::new(config)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let summary = runtime.block_on(jolpica::update_database(&client, &db, &until))?;
    let Some(season) = summary.season else {
        bail!(
            "{} holds no races: run `f1ai data import` first",
            db.display()
        );
    };
    let rounds: Vec<String> = summary.rounds.iter().map(i64::to_string).collect();
    match rounds.is_empty() {
        true => println!("{season}: no new rounds with results up to {until}"),
        false => println!(
            "{season}: fetched round(s) {} ({} results, {} qualifying, {} driver standings)",
            rounds.join(", "),
            summary.written.results,
            summary.written.qualifying,
            summary.written.driver_standings
        ),
    }
    if let Some(round) = summary.pending {
        println!("{season} round {round}: held by {until}, but the API has no results for it yet");
    }
    println!(
        "requests: {} ({} retries), cached pages reused: {}",
        summary.requests.requests, summary.requests.retries, summary.requests.cache_hits
    );
    Ok(())
}

fn fetch(args: FetchArgs, workspace: &Workspace) -> Result<()> {
    let db = workspace.database();
    if !db.is_file() {
        bail!(
            "no knowledge base at {}: run `f1ai data import` first",
            db.display()
        );
    }
    let mut config = ClientConfig::new(workspace.jolpica_cache());
    config.base_url = args.base_url;
    config.refresh = args.refresh;
    let resources = if args.resources.is_empty() {
        Resource::ALL.to_vec()
    } else {
        args.resources
    };
    let client = JolpicaClient::new(config)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let summary = runtime.block_on(jolpica::fetch_into_database(
        &client,
        &db,
        args.season,
        args.round,
        &resources,
    ))?;
    let s = summary.requests;
    let w = summary.written;
    println!(
        "requests: {} ({} retries), cached pages reused: {}",
        s.requests, s.retries, s.cache_hits
    );
    println!(
        "upserted: {} races, {} results, {} sprint results, {} qualifying, {} driver standings, \
         {} constructor standings, {} drivers, {} constructors, {} circuits",
        w.races,
        w.results,
        w.sprint_results,
        w.qualifying,
        w.driver_standings,
        w.constructor_standings,
        w.drivers,
        w.constructors,
        w.circuits
    );
    Ok(())
}

fn stats(workspace: &Workspace) -> Result<()> {
    let kb = KnowledgeBase::open(&workspace.database())?;
    println!("database: {}", workspace.database().display());
    println!(
        "source:   {}",
        kb.source()?.unwrap_or_else(|| "unknown".into())
    );
    if let Some((first, last)) = kb.season_range()? {
        println!("seasons:  {first} to {last}");
    }
    if let Some(race) = kb.latest_race_with_results()? {
        println!(
            "latest race with results: {} round {}, {} ({})",
            race.season, race.round, race.name, race.date
        );
    }
    let champions = kb.all_champions()?;
    if let (Some(first), Some(last)) = (champions.first(), champions.last()) {
        println!(
            "complete seasons with champions: {} ({} to {})",
            champions.len(),
            first.season,
            last.season
        );
    }
    println!("{:<24} {:>8}", "table", "rows");
    for (table, rows) in kb.table_counts()? {
        println!("{table:<24} {rows:>8}");
    }
    Ok(())
}

/// Where `data build` reads its configuration when not told.
const DEFAULT_DATA_CONFIG: &str = "config/data_config.yaml";

fn build(args: BuildArgs, workspace: &Workspace) -> Result<()> {
    let mut config = match args.config {
        Some(path) => DataConfig::load(&path)?,
        None if Path::new(DEFAULT_DATA_CONFIG).is_file() => {
            DataConfig::load(Path::new(DEFAULT_DATA_CONFIG))?
        }
        None => {
            tracing::info!("no {DEFAULT_DATA_CONFIG}; using the built-in defaults");
            DataConfig::default()
        }
    };
    if let Some(profile) = args.profile {
        config.profile = match profile.as_str() {
            "full" => Profile::Full,
            _ => Profile::Quick,
        };
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    let kb = KnowledgeBase::open(&workspace.database())?;
    let start = std::time::Instant::now();
    let splits = f1_dataset::build(&kb, &config)?;
    let tokens = match &args.tokenizer {
        Some(name) => {
            let spec = f1_model::registry::find(name)?;
            let cache = f1_model::fetch::default_cache_dir();
            let fetched =
                f1_model::fetch::ensure(spec, &workspace.base_models(), cache.as_deref())?;
            let tokenizer = f1_model::Tokenizer::from_gguf(fetched.path())?;
            TokenStats::measure(&splits, spec.name, |text| {
                tokenizer.encode(text).map_or(0, |ids| ids.len())
            })
        }
        None => None,
    };
    let provenance = Provenance {
        source: kb.source()?.unwrap_or_else(|| "unknown".into()),
        cutoff: kb
            .latest_race_with_results()?
            .map(|r| format!("the {}", r.label()))
            .unwrap_or_else(|| "the last complete season".into()),
        tokens,
    };
    let toolbox = f1_tools::Toolbox::open(&workspace.database())?;
    let cutoff_season = kb.latest_race_with_results()?.map_or(0, |r| r.season);
    let coverage = f1_dataset::tool_coverage(&kb, &config)?;
    let seasons = f1_dataset::fan_wording::RelativeSeasons::of(&toolbox);
    let recent = f1_dataset::recent_coverage(&kb, &config, seasons)?;
    let held_out_results = fan_question_results(&toolbox)?;
    let tools = f1_dataset::tool_use::tool_splits(
        &splits,
        &f1_dataset::tool_use::ToolData {
            toolbox: &toolbox,
            seed: config.seed,
            cutoff_season,
            coverage: &coverage,
            recent: &recent,
            fan_wording: config.tools.fan_wording,
            held_out_results: &held_out_results,
        },
    );
    f1_dataset::compose::check_leakage(&tools)?;
    let dir = workspace.curated();
    f1_dataset::write(&splits, &tools, &config, &provenance, &dir)?;
    let families: std::collections::BTreeSet<&str> = splits
        .all()
        .flat_map(|e| e.metadata.turns.iter().map(|t| t.family))
        .collect();
    println!(
        "wrote {} in {:.1}s: {} train, {} val, {} test examples; {} families; \
         multi-turn {:.1}%; leakage check passed",
        dir.display(),
        start.elapsed().as_secs_f64(),
        splits.train.len(),
        splits.val.len(),
        splits.test.len(),
        families.len(),
        100.0 * multi_turn_share(&splits.all().cloned().collect::<Vec<_>>())
    );
    Ok(())
}

/// What the hand-written fan questions' calls return: no training tool
/// conversation may hold one of these lookups.
fn fan_question_results(toolbox: &f1_tools::Toolbox) -> Result<HashSet<String>> {
    let mut results = HashSet::new();
    for question in f1_baseline::fan_questions::fan_questions()? {
        for call in &question.calls {
            let outcome = toolbox.outcome(call, f1_dataset::tool_use::MAX_RESULT_CHARS);
            if outcome.is_ok() {
                results.insert(outcome.text);
            }
        }
    }
    Ok(results)
}

/// The start URLs from the arguments and the list file, each checked.
fn start_urls(args: &ScrapeArgs) -> Result<Vec<reqwest::Url>> {
    let mut urls = Vec::new();
    for (i, text) in args.urls.iter().enumerate() {
        let url = reqwest::Url::parse(text)
            .with_context(|| format!("argument {}: invalid URL '{text}'", i + 1))?;
        urls.push(url);
    }
    if let Some(file) = &args.url_file {
        let list =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        for (i, line) in list.lines().enumerate() {
            let text = line.split('#').next().unwrap_or("").trim();
            if text.is_empty() {
                continue;
            }
            let url = reqwest::Url::parse(text).with_context(|| {
                format!("{}: line {}: invalid URL '{text}'", file.display(), i + 1)
            })?;
            urls.push(url);
        }
    }
    if urls.is_empty() {
        bail!("no URLs given: pass them as arguments or with --urls FILE");
    }
    Ok(urls)
}

fn scrape(args: ScrapeArgs, workspace: &Workspace) -> Result<()> {
    let db = workspace.database();
    if !db.is_file() {
        bail!(
            "no knowledge base at {}: run `f1ai data import` first",
            db.display()
        );
    }
    let urls = start_urls(&args)?;
    let mut config = ScrapeConfig::new(workspace.web_cache());
    config.max_depth = args.depth;
    config.max_pages = args.max_pages;
    config.min_delay = std::time::Duration::from_millis(args.delay_ms);
    config.timeout = std::time::Duration::from_secs(args.timeout_s);
    config.max_bytes = args.max_kib * 1024;
    config.refresh = args.refresh;
    let mut scraper = Scraper::new(config)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(scraper.crawl(&urls));
    let stored = f1_data::documents::upsert(&db, &report.documents)?;
    println!(
        "kept {stored} page(s) in the documents table ({} requests, {} from cache)",
        report.requests, report.cache_hits
    );
    for (url, reason) in &report.skipped {
        println!("skipped {url}: {reason}");
    }
    Ok(())
}
