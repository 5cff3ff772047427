//! Prompt building, retrieval, case selection and reading splits.

use f1_baseline::prompt::SYSTEM_PROMPT;
use f1_baseline::{read_cases, spread, FactIndex, PromptBuilder};

fn case(id: &str, family: &str, turns: &[(&str, &str)]) -> String {
    let messages: Vec<_> = turns
        .iter()
        .flat_map(|(q, a)| {
            [
                serde_json::json!({"role": "user", "content": q}),
                serde_json::json!({"role": "assistant", "content": a}),
            ]
        })
        .collect();
    serde_json::json!({
        "messages": messages,
        "metadata": {"id": id, "family": family, "fact_id": format!("{family}:{id}"),
                     "test_kind": "unseen", "split": "test",
                     "gold": [{"text": "Max Verstappen", "aliases": ["Max Verstappen", "Verstappen"]}]}
    })
    .to_string()
}

fn write_split(lines: &[String]) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), lines.join("\n")).unwrap();
    file
}

#[test]
fn retrieval_ranks_the_matching_facts_first() {
    let index = FactIndex::new(vec![
        "Lewis Hamilton won the 2020 Turkish Grand Prix.".into(),
        "Max Verstappen won the 2021 Abu Dhabi Grand Prix, driving for Red Bull.".into(),
        "The 2021 Abu Dhabi Grand Prix was held at Yas Marina Circuit.".into(),
        "Sebastian Vettel was born on 3 July 1987.".into(),
    ]);
    let hits = index.search("Who won the 2021 Abu Dhabi Grand Prix?", 2);
    assert_eq!(hits.len(), 2);
    assert!(
        hits.iter().all(|h| h.contains("2021 Abu Dhabi")),
        "{hits:?}"
    );
    assert!(index.search("Vettel birthday born", 1)[0].contains("Vettel"));
}

#[test]
fn retrieval_breaks_ties_in_corpus_order() {
    // Equal scores: the crate's own cut orders these by hash, which differs
    // between processes (and between indexes), so prompts were not reproducible.
    let sentences: Vec<String> = [
        "Alesi",
        "Berger",
        "Capelli",
        "Dalmas",
        "Eddie",
        "Fittipaldi",
    ]
    .iter()
    .map(|name| format!("{name} scored points at Monza."))
    .collect();
    for _ in 0..5 {
        let index = FactIndex::new(sentences.clone());
        assert_eq!(
            index.search("Who scored points at Monza?", 3),
            sentences[..3]
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn prompts_per_mode() {
    let split = write_split(&[
        case(
            "a",
            "race_winner",
            &[("Who won the 2021 Abu Dhabi Grand Prix?", "Max Verstappen.")],
        ),
        case(
            "b",
            "race_pole",
            &[
                ("Who won in Monza 2019?", "Charles Leclerc."),
                ("And who started on pole?", "Leclerc."),
            ],
        ),
    ]);
    let cases = read_cases(split.path()).unwrap();
    let multi = &cases[1];
    assert_eq!(multi.question(), "And who started on pole?");
    assert_eq!(multi.reference(), "Leclerc.");

    let zero = PromptBuilder::ZeroShot.build(multi);
    let roles: Vec<&str> = zero.messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "user"],
        "history kept, answer left out"
    );
    assert_eq!(zero.messages[0].content, SYSTEM_PROMPT);

    let index = FactIndex::new(vec![
        "Charles Leclerc started the 2019 Italian Grand Prix from pole position.".into(),
        "Kimi Raikkonen was born in Espoo.".into(),
    ]);
    let rag = PromptBuilder::Rag {
        index: &index,
        k: 1,
    }
    .build(multi);
    assert_eq!(rag.facts.len(), 1);
    assert!(rag.messages[0]
        .content
        .contains("\n- Charles Leclerc started"));

    let train = read_cases(
        write_split(&[
            case("t1", "race_winner", &[("q1", "a1")]),
            case("t2", "race_winner", &[("q2", "a2")]),
            case("t3", "driver_birth_date", &[("q3", "a3")]),
            case("t4", "race_pole", &[("q4", "a4"), ("q5", "a5")]),
        ])
        .path(),
    )
    .unwrap();
    let few = PromptBuilder::few_shot(&train, 3, 42).build(&cases[0]);
    let users: Vec<&str> = few
        .messages
        .iter()
        .filter(|m| m.role == "user")
        .map(|m| m.content.as_str())
        .collect();
    // Two single-turn examples of different families exist; then the question.
    assert_eq!(users.len(), 3, "{users:?}");
    assert_eq!(users[2], "Who won the 2021 Abu Dhabi Grand Prix?");
    assert!(!users.contains(&"q4"), "multi-turn examples are not shots");
    let again = PromptBuilder::few_shot(&train, 3, 42).build(&cases[0]);
    assert_eq!(few.messages, again.messages, "same seed, same shots");
}

#[test]
fn spread_covers_the_whole_split() {
    let lines: Vec<String> = (0..10)
        .map(|i| case(&i.to_string(), "race_winner", &[("q", "a")]))
        .collect();
    let cases = read_cases(write_split(&lines).path()).unwrap();
    let ids: Vec<&str> = spread(&cases, 3)
        .iter()
        .map(|c| c.metadata.id.as_str())
        .collect();
    assert_eq!(ids, ["0", "3", "6"]);
    assert_eq!(spread(&cases, 0).len(), 10);
    assert_eq!(spread(&cases, 50).len(), 10);
}

#[test]
fn bad_splits_name_the_file_and_line() {
    let good = case("a", "race_winner", &[("q", "a")]);
    let error = read_cases(write_split(&[good.clone(), "{\"messages\": []}".into()]).path())
        .unwrap_err()
        .to_string();
    assert!(error.contains(":2: missing field `metadata`"), "{error}");

    let mut no_answer: serde_json::Value = serde_json::from_str(&good).unwrap();
    let answer = no_answer["messages"].as_array_mut().unwrap().pop().unwrap();
    assert_eq!(answer["role"], "assistant");
    let no_answer = no_answer.to_string();
    let error = read_cases(write_split(&[no_answer]).path())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(":1: messages must end with a user question"),
        "{error}"
    );

    let error = read_cases(write_split(&[]).path()).unwrap_err().to_string();
    assert!(error.contains("no examples"), "{error}");
}
