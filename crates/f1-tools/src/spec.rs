//! The tools: names, what each answers, and their parameters as JSON Schema.

use serde_json::{json, Value};

/// What a parameter's value may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A name as a fan writes it: a driver, team, circuit or race.
    Text,
    /// A year, or words such as "last season".
    Season,
    /// A whole number.
    Integer,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
}

/// One parameter of a tool.
#[derive(Debug, Clone, Copy)]
pub struct Parameter {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub description: &'static str,
}

/// One tool the assistant may call.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub name: &'static str,
    pub description: &'static str,
    pub parameters: &'static [Parameter],
}

const RACE: Parameter = Parameter {
    name: "race",
    kind: Kind::Text,
    required: true,
    description: "The race as asked: name, country, circuit or round, with its year if given \
                  (\"2021 Abu Dhabi Grand Prix\", \"Interlagos 2016\", \"the 2021 finale\")",
};
const RACE_SEASON: Parameter = Parameter {
    name: "season",
    kind: Kind::Season,
    required: false,
    description: "The race's season when the race text has no year",
};
const SEASON: Parameter = Parameter {
    name: "season",
    kind: Kind::Season,
    required: true,
    description: "A year, or \"last season\" / \"this season\"",
};
const DRIVER: Parameter = Parameter {
    name: "driver",
    kind: Kind::Text,
    required: true,
    description: "A driver's name, surname, nickname or three-letter code",
};

/// Every tool, in a fixed order.
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "race_result",
        description:
            "A Grand Prix: date, circuit, winner, second and third with teams, retirements, \
                      the driver who gained most places",
        parameters: &[RACE, RACE_SEASON],
    },
    Tool {
        name: "qualifying",
        description: "A Grand Prix's starting grid: pole position and the front of the grid",
        parameters: &[RACE, RACE_SEASON],
    },
    Tool {
        name: "fastest_lap",
        description: "A Grand Prix's fastest lap: driver, team, lap and time",
        parameters: &[RACE, RACE_SEASON],
    },
    Tool {
        name: "pit_stops",
        description: "A Grand Prix's pit stops: how many, and the fastest",
        parameters: &[RACE, RACE_SEASON],
    },
    Tool {
        name: "sprint_result",
        description: "The sprint of a Grand Prix weekend: winner, second and third",
        parameters: &[RACE, RACE_SEASON],
    },
    Tool {
        name: "season_summary",
        description: "A season: champions, runner-up, title margin, number of races, race \
                      winners, most wins",
        parameters: &[SEASON],
    },
    Tool {
        name: "standings",
        description: "A championship table (top ten) at the end of a season or after a round",
        parameters: &[
            SEASON,
            Parameter {
                name: "after_round",
                kind: Kind::Integer,
                required: false,
                description: "The round the table is taken after (default: the season's last)",
            },
            Parameter {
                name: "championship",
                kind: Kind::Choice(&["drivers", "constructors"]),
                required: false,
                description: "drivers (default) or constructors",
            },
        ],
    },
    Tool {
        name: "driver_profile",
        description: "A driver: nationality, birth date, number, code, career starts, wins, \
                      podiums, poles, titles, first and last season",
        parameters: &[DRIVER],
    },
    Tool {
        name: "driver_season",
        description: "A driver's season: teams, teammates, wins, podiums, championship place",
        parameters: &[DRIVER, SEASON],
    },
    Tool {
        name: "head_to_head",
        description: "Two teammates' season: races both started for the team, and how often \
                      each finished ahead",
        parameters: &[
            DRIVER,
            Parameter {
                name: "other",
                kind: Kind::Text,
                required: true,
                description: "The other driver",
            },
            SEASON,
        ],
    },
    Tool {
        name: "team_profile",
        description: "A constructor: nationality, races entered, wins, constructors' titles, \
                      first and last season",
        parameters: &[Parameter {
            name: "team",
            kind: Kind::Text,
            required: true,
            description: "The constructor's name (\"Red Bull\", \"Ferrari\")",
        }],
    },
    Tool {
        name: "circuit_info",
        description: "A circuit: location, country, first Grand Prix, races held, latest race",
        parameters: &[Parameter {
            name: "circuit",
            kind: Kind::Text,
            required: true,
            description: "The circuit's name, nickname or town (\"Interlagos\", \"Monza\")",
        }],
    },
];

/// Looks a tool up by name.
pub fn by_name(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

impl Tool {
    /// `race_result(race, season?)`: how the system prompt lists the tool.
    pub fn signature(&self) -> String {
        let parameters: Vec<String> = self
            .parameters
            .iter()
            .map(|p| match p.required {
                true => p.name.to_string(),
                false => format!("{}?", p.name),
            })
            .collect();
        format!("{}({})", self.name, parameters.join(", "))
    }

    /// The tool as OpenAI's `tools` list writes it:
    /// `{"type": "function", "function": {"name", "description", "parameters"}}`.
    pub fn openai_schema(&self) -> Value {
        let properties: serde_json::Map<String, Value> = self
            .parameters
            .iter()
            .map(|p| (p.name.to_string(), p.schema()))
            .collect();
        let required: Vec<&str> = self
            .parameters
            .iter()
            .filter(|p| p.required)
            .map(|p| p.name)
            .collect();
        json!({
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": {
                    "type": "object",
                    "properties": properties,
                    "required": required,
                    "additionalProperties": false,
                },
            },
        })
    }
}

impl Parameter {
    fn schema(&self) -> Value {
        let mut schema = match self.kind {
            Kind::Text => json!({"type": "string", "minLength": 1, "maxLength": 100}),
            Kind::Season => json!({"type": ["integer", "string"]}),
            Kind::Integer => json!({"type": "integer", "minimum": 1}),
            Kind::Choice(words) => json!({"type": "string", "enum": words}),
        };
        schema["description"] = self.description.into();
        schema
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_schemas_list_required_parameters() {
        let mut names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), TOOLS.len());
        let schema = by_name("standings").unwrap().openai_schema();
        assert_eq!(
            schema["function"]["parameters"]["required"],
            json!(["season"])
        );
        assert_eq!(
            schema["function"]["parameters"]["properties"]["championship"]["enum"],
            json!(["drivers", "constructors"])
        );
        assert_eq!(
            by_name("race_result").unwrap().signature(),
            "race_result(race, season?)"
        );
    }
}
