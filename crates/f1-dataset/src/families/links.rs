//! Follow-up questions between families about the same subject.
//!
//! A link from `race_winner` to `race_runner_up` turns "Who won the 2021 Abu Dhabi
//! Grand Prix?" into a conversation that goes on "And who finished second?": the
//! follow-up is the fact of the target family with the same subject (`2021-22`).
//! Follow-ups never name the subject, so they need the earlier turns; and they say
//! "they" or "that driver", since the data records no one's pronouns.

use std::collections::HashMap;

use crate::fact::{Fact, FollowUp};

/// A follow-up from one family to another about the same subject.
pub struct Link {
    pub from: &'static str,
    pub to: &'static str,
    pub questions: &'static [&'static str],
}

const WHO_WON: &[&str] = &["Who won that race?", "And who took the win?"];

pub const LINKS: &[Link] = &[
    Link {
        from: "race_winner",
        to: "race_runner_up",
        questions: &["And who finished second?", "Who came second in that race?"],
    },
    Link {
        from: "race_winner",
        to: "race_winner_team",
        questions: &[
            "Which team was the winner driving for?",
            "What team did the winner drive for?",
        ],
    },
    Link {
        from: "race_runner_up",
        to: "race_winner",
        questions: &[
            "And who won that race?",
            "Who finished ahead of them to win?",
        ],
    },
    Link {
        from: "race_winner_team",
        to: "race_winner",
        questions: &[
            "Who was driving the winning car?",
            "Which of its drivers won?",
        ],
    },
    Link {
        from: "race_podium",
        to: "race_winner_team",
        questions: &[
            "Which team did the winner drive for?",
            "And the winning team?",
        ],
    },
    Link {
        from: "pole_position",
        to: "race_winner",
        questions: &["And who won the race?", "Who went on to win it?"],
    },
    Link {
        from: "race_location",
        to: "race_date",
        questions: &["When was it held?", "And on what date did it take place?"],
    },
    Link {
        from: "race_date",
        to: "race_location",
        questions: &["Where was it held?", "Which circuit hosted it?"],
    },
    Link {
        from: "race_retirements",
        to: "race_winner",
        questions: WHO_WON,
    },
    Link {
        from: "sprint_winner",
        to: "race_winner",
        questions: &[
            "And who won the Grand Prix that weekend?",
            "Who won the main race?",
        ],
    },
    Link {
        from: "fastest_pit_stop",
        to: "race_winner",
        questions: WHO_WON,
    },
    Link {
        from: "biggest_gain",
        to: "race_winner",
        questions: WHO_WON,
    },
    Link {
        from: "drivers_champion",
        to: "constructors_champion",
        questions: &[
            "And which team won the constructors' title that year?",
            "Which constructor won the championship that season?",
        ],
    },
    Link {
        from: "drivers_champion",
        to: "championship_runner_up",
        questions: &[
            "Who was the runner-up?",
            "Who finished second in the standings?",
        ],
    },
    Link {
        from: "constructors_champion",
        to: "drivers_champion",
        questions: &[
            "And who won the drivers' title that year?",
            "Which driver was champion that season?",
        ],
    },
    Link {
        from: "championship_runner_up",
        to: "drivers_champion",
        questions: &[
            "And who won the title?",
            "Who beat them to the championship?",
        ],
    },
    Link {
        from: "title_margin",
        to: "championship_runner_up",
        questions: &["Who finished second?", "Who was the runner-up?"],
    },
    Link {
        from: "season_rounds",
        to: "season_distinct_winners",
        questions: &[
            "How many different drivers won a race that season?",
            "And how many different winners were there?",
        ],
    },
    Link {
        from: "season_distinct_winners",
        to: "most_wins_season",
        questions: &[
            "Who won the most races that year?",
            "Which of them won the most?",
        ],
    },
    Link {
        from: "most_wins_season",
        to: "drivers_champion",
        questions: &[
            "Who won the championship that year?",
            "And who was world champion that season?",
        ],
    },
    Link {
        from: "driver_nationality",
        to: "driver_birth_date",
        questions: &[
            "When was that driver born?",
            "And what is their date of birth?",
        ],
    },
    Link {
        from: "driver_birth_date",
        to: "driver_nationality",
        questions: &["What nationality is that driver?", "And their nationality?"],
    },
    Link {
        from: "driver_number",
        to: "driver_code",
        questions: &[
            "And what is their three-letter code?",
            "Which timing code do they use?",
        ],
    },
    Link {
        from: "driver_code",
        to: "driver_number",
        questions: &[
            "What is their permanent number?",
            "And which car number do they use?",
        ],
    },
    Link {
        from: "driver_career_wins",
        to: "driver_career_podiums",
        questions: &[
            "And how many podiums?",
            "How many podium finishes do they have?",
        ],
    },
    Link {
        from: "driver_career_wins",
        to: "driver_career_poles",
        questions: &[
            "How many pole positions?",
            "And how many times did they start from pole?",
        ],
    },
    Link {
        from: "driver_career_podiums",
        to: "driver_career_wins",
        questions: &["How many of those were wins?", "And how many race wins?"],
    },
    Link {
        from: "driver_career_poles",
        to: "driver_career_wins",
        questions: &[
            "And how many races have they won?",
            "How many wins do they have?",
        ],
    },
    Link {
        from: "driver_career_starts",
        to: "driver_career_wins",
        questions: &[
            "And how many of those did they win?",
            "How many wins came from those starts?",
        ],
    },
    Link {
        from: "driver_titles",
        to: "driver_career_wins",
        questions: &[
            "And how many Grands Prix did they win?",
            "How many race wins do they have?",
        ],
    },
    Link {
        from: "driver_debut",
        to: "driver_career_starts",
        questions: &[
            "How many races have they started in total?",
            "And how many starts do they have?",
        ],
    },
    Link {
        from: "driver_team_season",
        to: "teammate_in_season",
        questions: &[
            "Who was the teammate there?",
            "And who drove the other car for that team?",
        ],
    },
    Link {
        from: "constructor_wins",
        to: "constructor_titles",
        questions: &[
            "And how many constructors' titles?",
            "How many constructors' championships has it won?",
        ],
    },
    Link {
        from: "constructor_titles",
        to: "constructor_wins",
        questions: &[
            "How many races has it won?",
            "And how many Grand Prix wins?",
        ],
    },
    Link {
        from: "constructor_nationality",
        to: "constructor_wins",
        questions: &[
            "How many races has that team won?",
            "And how many Grand Prix wins does it have?",
        ],
    },
    Link {
        from: "circuit_location",
        to: "circuit_first_gp",
        questions: &[
            "When did it first host a World Championship race?",
            "In which year was its first Grand Prix there?",
        ],
    },
    Link {
        from: "circuit_first_gp",
        to: "races_at_circuit",
        questions: &[
            "How many World Championship races has it held in total?",
            "And how many Grands Prix has it hosted?",
        ],
    },
    Link {
        from: "races_at_circuit",
        to: "circuit_location",
        questions: &["Where is it?", "In which country is it?"],
    },
];

/// Families whose facts serve as follow-ups of `family`.
pub fn targets(family: &str) -> impl Iterator<Item = &'static str> + '_ {
    LINKS.iter().filter(move |l| l.from == family).map(|l| l.to)
}

/// The subject part of a fact id: `race_winner:2021-22` -> `2021-22`.
fn subject(fact_id: &str) -> &str {
    fact_id.split_once(':').map_or(fact_id, |(_, s)| s)
}

/// Adds every linked follow-up to `facts` (of `family`), drawing on `by_id`, an
/// index of the target families' facts.
pub fn attach(family: &str, facts: &mut [Fact], by_id: &HashMap<String, Fact>) {
    for link in LINKS.iter().filter(|l| l.from == family) {
        for fact in facts.iter_mut() {
            let target = format!("{}:{}", link.to, subject(&fact.id));
            if let Some(follow) = by_id.get(&target) {
                fact.follow_ups.push(FollowUp {
                    questions: link.questions,
                    fact: Fact {
                        follow_ups: Vec::new(),
                        ..follow.clone()
                    },
                });
            }
        }
    }
}
