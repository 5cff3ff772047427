//! Fan wording: a training tool conversation asked again the way people type,
//! with a race by place and year ("monza 2020", "the 2021 finale"), a first name,
//! nickname or misspelled surname, "last season", lower case, no question mark,
//! sometimes a greeting before or a "thanks" after. The call copies the fan's
//! words and the resolver reads them; a rewrite is kept only when its call
//! returns exactly the original result, so the original answer stays grounded.

use f1_tools::{ToolCall, Toolbox};
use serde_json::{Map, Value};

use crate::example::{Example, Message};
use crate::keyed::Keyed;

/// Colloquial questions per family. Slots: `{race}`, `{driver}`, `{other}`,
/// `{team}`, `{circuit}`, `{season}` ("2009", "last season") and `{in_season}`
/// ("in 2009", "last season").
const QUESTIONS: &[(&str, &[&str])] = &[
    (
        "race_winner",
        &[
            "who won {race}?",
            "{race} - who won?",
            "who took the win in {race}",
            "{race}, who won that one?",
            "winner of {race}?",
            "who was first across the line in {race}?",
            "{race} winner",
            "tell me who won {race}",
        ],
    ),
    (
        "race_runner_up",
        &[
            "who came 2nd in {race}?",
            "{race} - who was P2?",
            "who finished behind the winner in {race}",
            "who was runner up in {race}?",
            "P2 in {race}?",
            "who came second at {race}",
        ],
    ),
    (
        "race_winner_team",
        &[
            "which team won {race}?",
            "{race}, what team won it",
            "{race} - which constructor won?",
        ],
    ),
    (
        "race_podium",
        &[
            "{race} podium?",
            "who was on the podium in {race}",
            "who finished in the top 3 in {race}?",
            "{race} top three?",
        ],
    ),
    (
        "race_location",
        &[
            "where was {race} held?",
            "{race} - which track was it at?",
            "what circuit hosted {race}?",
        ],
    ),
    (
        "race_date",
        &[
            "when was {race}?",
            "what date was {race} on",
            "{race} - what day was it?",
        ],
    ),
    (
        "race_retirements",
        &[
            "how many dnfs were there in {race}?",
            "{race}, how many retired?",
            "{race}: how many cars didn't finish?",
        ],
    ),
    (
        "biggest_gain",
        &[
            "who made up the most places in {race}?",
            "who gained the most positions in {race}",
        ],
    ),
    (
        "pole_position",
        &[
            "who was on pole for {race}?",
            "{race} pole sitter?",
            "who started P1 in {race}",
            "who took pole in {race}?",
            "pole at {race}?",
            "who qualified first for {race}",
            "who got pole position at {race}?",
        ],
    ),
    (
        "fastest_lap",
        &[
            "fastest lap in {race}?",
            "who did the fastest lap in {race}",
            "{race} - who set the fastest lap?",
            "quickest lap of {race}?",
            "who set the fastest race lap in {race}?",
        ],
    ),
    (
        "fastest_lap_lap",
        &[
            "on which lap was the fastest lap of {race}?",
            "{race} - what lap was the fastest lap on?",
        ],
    ),
    (
        "fastest_pit_stop",
        &[
            "quickest pit stop in {race}?",
            "who had the fastest pit stop in {race}?",
        ],
    ),
    (
        "sprint_winner",
        &[
            "who won the sprint at {race}?",
            "{race} sprint - who won?",
            "{race} sprint winner?",
            "who won the sprint race in {race}",
            "sprint at {race}: who took it?",
        ],
    ),
    (
        "drivers_champion",
        &[
            "who was the champ {in_season}?",
            "{season} world champion?",
            "who took the title {in_season}",
            "who won the drivers title {in_season}?",
            "who won the world championship {in_season}?",
            "{season} drivers champion?",
            "who was crowned world champion {in_season}",
        ],
    ),
    (
        "constructors_champion",
        &[
            "who won the constructors {in_season}?",
            "{season} constructors champions?",
            "which team took the constructors title {in_season}",
            "which constructor won the championship {in_season}?",
            "{season} constructors title - which team?",
            "who were constructors champions {in_season}",
        ],
    ),
    (
        "championship_runner_up",
        &[
            "who was 2nd in the championship {in_season}?",
            "{season} title runner up?",
            "who finished 2nd in the drivers championship {in_season}?",
            "who lost the title {in_season}",
            "runner-up in the {season} championship?",
        ],
    ),
    (
        "title_margin",
        &[
            "how many points was the title won by {in_season}?",
            "by how many points did the champion win {in_season}?",
            "what was the title margin {in_season}",
            "{season} championship - how close was it?",
        ],
    ),
    (
        "season_rounds",
        &[
            "how many races were there {in_season}?",
            "how many grands prix {in_season}?",
            "{season} - how many races on the calendar?",
        ],
    ),
    (
        "season_distinct_winners",
        &[
            "how many different race winners were there {in_season}?",
            "how many drivers won a race {in_season}?",
        ],
    ),
    (
        "most_wins_season",
        &[
            "who won the most races {in_season}?",
            "who had the most wins {in_season}?",
            "most race wins {in_season}?",
        ],
    ),
    (
        "standings_leader_after_round",
        &[
            "who was leading the championship after round {after_round} {in_season}?",
            "championship leader after round {after_round} {in_season}?",
            "who was top of the standings after {after_round} races {in_season}",
            "who led the points after round {after_round} {in_season}?",
        ],
    ),
    (
        "drivers_championship_position",
        &[
            "who finished {position} in the drivers standings {in_season}?",
            "who was {position} in the championship {in_season}",
            "{position} in the drivers championship {in_season}?",
            "who ended up {position} in the points {in_season}",
        ],
    ),
    (
        "constructors_championship_position",
        &[
            "who finished {position} in the constructors {in_season}?",
            "which team was {position} in the constructors championship {in_season}",
            "{position} in the constructors standings {in_season}?",
            "which constructor ended {position} {in_season}",
        ],
    ),
    (
        "driver_nationality",
        &[
            "where's {driver} from?",
            "{driver} - what nationality?",
            "which country is {driver} from",
            "what nationality is {driver}?",
            "{driver} is from where?",
        ],
    ),
    (
        "driver_birth_date",
        &[
            "when's {driver}'s birthday?",
            "{driver} date of birth?",
            "when was {driver} born?",
            "what's the date of birth of {driver}",
        ],
    ),
    (
        "driver_number",
        &[
            "what number does {driver} run?",
            "which race number does {driver} use?",
            "{driver} - what number?",
        ],
    ),
    (
        "driver_code",
        &[
            "{driver}'s three letter code?",
            "what abbreviation does {driver} have on timing screens?",
        ],
    ),
    (
        "driver_career_wins",
        &[
            "how many wins has {driver} got?",
            "{driver} career wins?",
            "how many GPs did {driver} win in total",
            "how many races has {driver} won?",
            "{driver} - total wins?",
        ],
    ),
    (
        "driver_career_podiums",
        &[
            "how many podiums did {driver} get?",
            "{driver} podiums?",
            "how many times has {driver} been on the podium",
        ],
    ),
    (
        "driver_career_poles",
        &[
            "how many pole positions has {driver} got?",
            "{driver} poles?",
            "how many poles does {driver} have",
        ],
    ),
    (
        "driver_career_starts",
        &[
            "how many races did {driver} start?",
            "{driver} - how many starts?",
            "how many grands prix has {driver} started?",
        ],
    ),
    (
        "driver_titles",
        &[
            "how many titles did {driver} win?",
            "{driver} - how many championships?",
            "how many world titles does {driver} have?",
            "how many times was {driver} world champion",
            "{driver} championships?",
        ],
    ),
    (
        "driver_debut",
        &[
            "when did {driver} first race in F1?",
            "{driver}'s debut race?",
            "when was {driver}'s first grand prix",
        ],
    ),
    (
        "driver_team_season",
        &[
            "who was {driver} driving for {in_season}?",
            "{driver}'s team {in_season}?",
            "what team was {driver} with {in_season}",
            "which team did {driver} race for {in_season}?",
            "{driver}'s car {in_season} - which team?",
        ],
    ),
    (
        "teammate_in_season",
        &[
            "who was {driver} paired with {in_season}?",
            "{driver}'s teammate {in_season}?",
            "who drove alongside {driver} {in_season}",
            "who drove the other car next to {driver} {in_season}?",
            "{driver} teammate {in_season}?",
        ],
    ),
    (
        "driver_season_wins",
        &[
            "how many wins did {driver} get {in_season}?",
            "how many races did {driver} win {in_season}",
            "{driver} wins {in_season}?",
            "how many grands prix did {driver} win {in_season}?",
        ],
    ),
    (
        "driver_season_points",
        &[
            "how many points did {driver} score {in_season}?",
            "{driver} points {in_season}?",
            "what did {driver} finish on points-wise {in_season}",
            "{driver}'s points tally {in_season}?",
        ],
    ),
    (
        "teammate_head_to_head",
        &[
            "{driver} vs {other} {in_season}, who beat who?",
            "{driver} or {other} - who was ahead more often {in_season}?",
            "teammate battle {in_season}: {driver} vs {other}?",
        ],
    ),
    (
        "constructor_wins",
        &[
            "how many races have {team} won?",
            "{team} - how many wins?",
            "how many grands prix have {team} won in total",
        ],
    ),
    (
        "constructor_titles",
        &[
            "how many constructors titles do {team} have?",
            "{team} - how many titles?",
            "how many constructors championships have {team} won?",
            "{team} constructors titles?",
            "how many times have {team} been constructors champions",
        ],
    ),
    (
        "constructor_nationality",
        &[
            "where are {team} from?",
            "{team}, which country?",
            "what nationality are {team}?",
        ],
    ),
    (
        "circuit_location",
        &[
            "where is {circuit}?",
            "{circuit} - what country?",
            "which country is {circuit} in",
            "where in the world is {circuit}?",
            "{circuit}: which country?",
        ],
    ),
    (
        "circuit_first_gp",
        &[
            "when was the first GP at {circuit}?",
            "{circuit} - first grand prix when?",
            "what year did {circuit} hold its first GP",
        ],
    ),
    (
        "races_at_circuit",
        &[
            "how many GPs have been held at {circuit}?",
            "how many times has {circuit} held a GP?",
            "{circuit} - number of grands prix?",
        ],
    ),
];

/// Two facts in one question, per family: the second subject's slots end in 2.
const PAIRED: &[(&str, &[&str])] = &[
    (
        "race_winner",
        &[
            "who won {race} and {race2}?",
            "{race} and {race2}, who won those?",
        ],
    ),
    (
        "pole_position",
        &["who was on pole in {race} and in {race2}?"],
    ),
    ("fastest_lap", &["fastest laps in {race} and {race2}?"]),
    (
        "drivers_champion",
        &[
            "who won the title {in_season} and {in_season2}?",
            "{season} and {season2} champions?",
        ],
    ),
    (
        "constructors_champion",
        &["which teams won the constructors {in_season} and {in_season2}?"],
    ),
    (
        "driver_nationality",
        &["where are {driver} and {driver2} from?"],
    ),
    (
        "driver_season_points",
        &["how many points did {driver} score {in_season}, and {driver2} {in_season2}?"],
    ),
    (
        "driver_season_wins",
        &["{driver} {in_season} and {driver2} {in_season2} - how many wins each?"],
    ),
    (
        "driver_team_season",
        &["which teams did {driver} {in_season} and {driver2} {in_season2} drive for?"],
    ),
    (
        "circuit_location",
        &["which countries are {circuit} and {circuit2} in?"],
    ),
];

/// How some messages open, and close: a share of reworded questions get one.
pub const OPENERS: &[&str] = &[
    "hey, ",
    "quick one: ",
    "f1 question - ",
    "random q: ",
    "hi! ",
];
pub const CLOSERS: &[&str] = &[" thanks", " cheers", " pls", "??"];

/// Both of a season's titles in one question ([`both_titles`]).
const BOTH_TITLES: &[&str] = &[
    "who won the drivers and constructors titles {in_season}?",
    "{season} drivers and constructors champions?",
    "drivers champion and constructors champion {in_season}",
];

/// The seasons "last season" and "this season" mean in the data.
#[derive(Debug, Clone, Copy)]
pub struct RelativeSeasons {
    pub last: Option<i64>,
    pub this: Option<i64>,
}

impl RelativeSeasons {
    pub fn of(toolbox: &Toolbox) -> Self {
        let season = |words: &str| toolbox.resolver().season(&Value::from(words)).ok();
        Self {
            last: season("last season"),
            this: season("this season"),
        }
    }

    /// How a fan names `year`: the relative words when they mean it.
    fn words(&self, year: i64) -> Option<&'static str> {
        match year {
            y if Some(y) == self.last => Some("last season"),
            y if Some(y) == self.this => Some("this season"),
            _ => None,
        }
    }
}

/// One way to write an argument: in the question, and in the call.
#[derive(Debug, Clone)]
struct Form {
    question: String,
    argument: Value,
}

impl Form {
    fn same(text: &str) -> Self {
        Self {
            question: text.to_string(),
            argument: Value::from(text),
        }
    }
}

/// `example` (a single-turn tool conversation of a family with colloquial
/// questions) asked in a fan's words, with the call those words give; None when
/// no rewrite returns the original result.
pub fn rewrite(
    example: &Example,
    toolbox: &Toolbox,
    keyed: &Keyed,
    seasons: RelativeSeasons,
    max_result_chars: usize,
) -> Option<Example> {
    let turn = &example.metadata.last;
    if example.metadata.turns.len() != 1 || example.messages.len() != 5 {
        return None;
    }
    let call = turn.tool_call.as_ref()?;
    let (_, templates) = QUESTIONS.iter().find(|(f, _)| *f == turn.family)?;
    let original = &example.messages[3].content;
    let result: Value = serde_json::from_str(original).ok()?;
    let id = example.metadata.id.as_str();
    let returns_original = |arguments: &Map<String, Value>| {
        let call = ToolCall {
            name: call.name.clone(),
            arguments: arguments.clone(),
        };
        let outcome = toolbox.outcome(&call, max_result_chars);
        outcome.is_ok() && outcome.text == *original
    };

    // Each argument in the first of its forms (in a seeded order) that still
    // finds the same result with the others unchanged.
    let mut arguments = call.arguments.clone();
    let mut slots: Vec<(String, String)> = Vec::new();
    for (name, value) in &call.arguments {
        let forms = match (name.as_str(), value) {
            ("race", Value::String(race)) => race_forms(race, &result, seasons),
            ("driver" | "other", Value::String(driver)) => driver_forms(driver),
            ("championship", Value::String(championship)) => vec![Form::same(championship)],
            ("team", Value::String(team)) => {
                vec![Form::same(team), Form::same(&team.to_lowercase())]
            }
            ("circuit", Value::String(circuit)) => circuit_forms(circuit, &result),
            ("season", value) => season_forms(value.as_str()?.parse().ok()?, seasons),
            _ => vec![Form {
                question: value.to_string(),
                argument: value.clone(),
            }],
        };
        let order = keyed.permutation(&["fan wording", name, id], forms.len());
        let chosen = order.iter().map(|&i| &forms[i]).find(|form| {
            let mut trial = call.arguments.clone();
            trial.insert(name.clone(), form.argument.clone());
            returns_original(&trial)
        })?;
        arguments.insert(name.clone(), chosen.argument.clone());
        slots.push((name.clone(), chosen.question.clone()));
        if name == "season" {
            let words = in_season(&chosen.question);
            slots.push(("in_season".into(), words));
        }
    }
    if !returns_original(&arguments) {
        return None;
    }
    if let Some(position) = table_position(&result, turn.gold.first()?) {
        slots.push(("position".into(), crate::text::ordinal(position)));
    }
    let template = templates[keyed.pick(&["fan question", id], templates.len())];
    let mut question = crate::text::fill(template, &slots);
    if question.contains('{') {
        return None;
    }
    if keyed.unit(&["fan lower case", id]) < 0.5 {
        question = question.to_lowercase();
        for value in arguments.values_mut() {
            if let Value::String(text) = value {
                *text = text.to_lowercase();
            }
        }
        if !returns_original(&arguments) {
            return None;
        }
    }
    if keyed.unit(&["fan question mark", id]) < 0.4 {
        question = question.trim_end_matches('?').to_string();
    }
    if keyed.unit(&["fan opener", id]) < 0.15 {
        let opener = OPENERS[keyed.pick(&["fan opener words", id], OPENERS.len())];
        question = format!("{opener}{question}");
    }
    if keyed.unit(&["fan closer", id]) < 0.1 {
        question.push_str(CLOSERS[keyed.pick(&["fan closer words", id], CLOSERS.len())]);
    }
    let new_call = ToolCall {
        name: call.name.clone(),
        arguments,
    };
    let mut messages = example.messages.clone();
    messages[1] = Message::new("user", question);
    messages[2] = Message::new("assistant", new_call.render());
    let mut metadata = example.metadata.clone();
    metadata.id = format!("{id}:fan");
    metadata.last.tool_call = Some(new_call);
    metadata.turns = vec![metadata.last.clone()];
    Some(Example { messages, metadata })
}

/// Where a standings result's table places the answer (`{position}` in a
/// question about who finished there).
fn table_position(result: &Value, answer: &crate::fact::Entity) -> Option<i64> {
    result
        .get("table")?
        .as_array()?
        .iter()
        .find(|line| line.get("name").and_then(Value::as_str) == Some(answer.text.as_str()))?
        .get("position")?
        .as_i64()
}

/// Two reworded single-turn conversations of one family asked as one question:
/// both calls, each followed by its result, then both answers. None when the
/// family has no two-fact question or either is not a single lookup.
pub fn pair(first: &Example, second: &Example, keyed: &Keyed) -> Option<Example> {
    let family = first.metadata.last.family;
    let (_, templates) = PAIRED.iter().find(|(f, _)| *f == family)?;
    if second.metadata.last.family != family
        || [first, second].iter().any(|e| e.messages.len() != 5)
    {
        return None;
    }
    let mut slots = slots_of(first.metadata.last.tool_call.as_ref()?, "");
    slots.extend(slots_of(second.metadata.last.tool_call.as_ref()?, "2"));
    let id = format!("{}+{}", first.metadata.id, second.metadata.id);
    let template = templates[keyed.pick(&["fan pair", &id], templates.len())];
    let question = crate::text::fill(template, &slots);
    if question.contains('{') {
        return None;
    }
    let mut messages = first.messages[..4].to_vec();
    messages[1].content = question;
    messages.extend(second.messages[2..4].iter().cloned());
    messages.push(Message::new(
        "assistant",
        format!(
            "{} {}",
            first.messages[4].content, second.messages[4].content
        ),
    ));
    let mut metadata = first.metadata.clone();
    metadata.id = format!("{id}:pair");
    metadata.last.fact_id = format!("{}+{}", metadata.last.fact_id, second.metadata.last.fact_id);
    metadata
        .last
        .gold
        .extend(second.metadata.last.gold.iter().cloned());
    metadata
        .last
        .sources
        .extend(second.metadata.last.sources.iter().cloned());
    metadata.turns = vec![metadata.last.clone()];
    Some(Example { messages, metadata })
}

/// Both titles of a season in one question ("who won the drivers and
/// constructors titles in 2009?"): `example` (a reworded drivers' champion
/// conversation) with one lookup and an answer naming both champions. None when
/// the season has no constructors' champion.
pub fn both_titles(example: &Example, keyed: &Keyed) -> Option<Example> {
    if example.metadata.last.family != "drivers_champion" || example.messages.len() != 5 {
        return None;
    }
    let result: Value = serde_json::from_str(&example.messages[3].content).ok()?;
    let team = result.get("constructors_champion")?.as_str()?;
    let driver = result.get("drivers_champion")?.as_str()?;
    let id = format!("{}:both", example.metadata.id);
    let slots = slots_of(example.metadata.last.tool_call.as_ref()?, "");
    let template = BOTH_TITLES[keyed.pick(&["both titles", &id], BOTH_TITLES.len())];
    let question = crate::text::fill(template, &slots);
    if question.contains('{') {
        return None;
    }
    let mut messages = example.messages.clone();
    messages[1].content = question;
    messages[4].content = format!("{driver} won the drivers' title and {team} the constructors'.");
    let mut metadata = example.metadata.clone();
    metadata.id = id;
    metadata.last.gold.push(crate::fact::Entity::text(team));
    metadata.turns = vec![metadata.last.clone()];
    Some(Example { messages, metadata })
}

/// A reworded call's arguments as question slots, each named after its
/// argument with `suffix` appended.
fn slots_of(call: &ToolCall, suffix: &str) -> Vec<(String, String)> {
    let mut slots = Vec::new();
    for (name, value) in &call.arguments {
        let text = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        if name == "season" {
            slots.push((format!("in_season{suffix}"), in_season(&text)));
        }
        slots.push((format!("{name}{suffix}"), text));
    }
    slots
}

/// "in 2009" for a year, the words alone for "last season".
fn in_season(text: &str) -> String {
    match text.parse::<i64>() {
        Ok(_) => format!("in {text}"),
        Err(_) => text.to_string(),
    }
}

/// "2021" or "last season": a season argument as a fan writes it (a string).
fn season_forms(year: i64, seasons: RelativeSeasons) -> Vec<Form> {
    match seasons.words(year) {
        Some(words) => vec![Form::same(words)],
        None => vec![Form::same(&year.to_string())],
    }
}

/// A race by place and season: "abu dhabi 2021", "Monza in 2020", "the Dutch GP
/// last season", "the 2021 finale".
fn race_forms(race: &str, result: &Value, seasons: RelativeSeasons) -> Vec<Form> {
    let Some(year) = race.get(..4).and_then(|y| y.parse::<i64>().ok()) else {
        return vec![Form::same(race)];
    };
    // "the Dutch GP", "Zandvoort", "Netherlands": a race's own name is often an
    // adjective, said only with "GP".
    let name = race[4..].trim().trim_end_matches("Grand Prix").trim();
    let mut places: Vec<String> = vec![format!("the {name} GP")];
    for field in ["/location", "/country"] {
        if let Some(place) = result.pointer(field).and_then(Value::as_str) {
            places.push(place.to_string());
        }
    }
    let mut forms = Vec::new();
    for place in &places {
        match seasons.words(year) {
            Some(words) => forms.push(Form::same(&format!("{place} {words}"))),
            None => {
                forms.push(Form::same(&format!("{place} {year}")));
                forms.push(Form {
                    question: format!("{place} in {year}"),
                    argument: Value::from(format!("{place} {year}")),
                });
            }
        }
    }
    forms.push(Form::same(&format!("the {year} finale")));
    forms.push(Form::same(&format!("the first race of {year}")));
    forms
}

/// A driver as fans name them: surname, first name, a nickname (alone or before
/// the surname) or the surname misspelled. The caller keeps only forms that
/// find the same driver.
fn driver_forms(driver: &str) -> Vec<Form> {
    let words: Vec<&str> = driver.split_whitespace().collect();
    let (Some(first), Some(surname)) = (words.first(), words.last()) else {
        return vec![Form::same(driver)];
    };
    let mut forms = vec![Form::same(surname), Form::same(first)];
    let surname_key = f1_tools::resolve::key(surname);
    for (nickname, driver_ref) in f1_tools::resolve::NICKNAMES {
        if driver_ref.contains(&surname_key) {
            let nickname = capitalized(nickname);
            forms.push(Form::same(&nickname));
            forms.push(Form::same(&format!("{nickname} {surname}")));
        }
    }
    let letters: Vec<char> = surname.chars().collect();
    if letters.len() >= 6 {
        let mut dropped = letters.clone();
        dropped.remove(letters.len() / 2);
        forms.push(Form::same(&dropped.into_iter().collect::<String>()));
    }
    forms
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_uppercase().collect::<String>() + chars.as_str()
    })
}

/// A circuit by its name or its town.
fn circuit_forms(circuit: &str, result: &Value) -> Vec<Form> {
    let mut forms = vec![Form::same(circuit)];
    if let Some(location) = result.pointer("/location").and_then(Value::as_str) {
        forms.push(Form::same(location));
    }
    forms
}
