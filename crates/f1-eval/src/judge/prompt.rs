//! The judge's prompts (MT-Bench's, with this project's rubric) and the parsing
//! of its verdicts.

use std::sync::LazyLock;

use regex::Regex;

/// What a good answer is, as the judge is told.
pub const RUBRIC: &str = "Consider accuracy (are the facts right?), relevance (does it answer \
the question asked?), helpfulness (is it complete and useful?) and fluency (is it clear, \
grammatical English?). Accuracy matters most: a fluent answer with a wrong fact is a bad answer.";

const SYSTEM: &str = "You are a helpful assistant.";

/// One chat message to the judge: (role, content).
pub type Message = (&'static str, String);

/// Single-answer grading, 1-10; with `reference`, the judge sees the gold answer.
pub fn single(question: &str, answer: &str, reference: Option<&str>) -> Vec<Message> {
    let mut text = format!(
        "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response \
         provided by an AI assistant to the user question about Formula 1 displayed below. {RUBRIC}"
    );
    if reference.is_some() {
        text.push_str(
            " You will be given a reference answer and the assistant's answer. Compare the \
             assistant's answer with the reference answer; identify and correct any mistakes.",
        );
    }
    text.push_str(
        " Begin your evaluation by providing a short explanation. Be as objective as possible. \
         After providing your explanation, you must rate the response on a scale of 1 to 10 by \
         strictly following this format: \"[[rating]]\", for example: \"Rating: [[5]]\".\n\n",
    );
    text.push_str(&format!("[Question]\n{question}\n\n"));
    if let Some(reference) = reference {
        text.push_str(&format!(
            "[The Start of Reference Answer]\n{reference}\n[The End of Reference Answer]\n\n"
        ));
    }
    text.push_str(&format!(
        "[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]"
    ));
    vec![("system", SYSTEM.to_string()), ("user", text)]
}

/// Pairwise comparison of answers A and B; with `reference`, guided by the gold answer.
pub fn pairwise(question: &str, a: &str, b: &str, reference: Option<&str>) -> Vec<Message> {
    let system = format!(
        "Please act as an impartial judge and evaluate the quality of the responses provided by \
         two AI assistants to the user question about Formula 1 displayed below. {RUBRIC} Avoid \
         any position biases and ensure that the order in which the responses were presented does \
         not influence your decision. Do not allow the length of the responses to influence your \
         evaluation. Be as objective as possible. After providing your explanation, output your \
         final verdict by strictly following this format: \"[[A]]\" if assistant A is better, \
         \"[[B]]\" if assistant B is better, and \"[[C]]\" for a tie."
    );
    let mut text = format!("[User Question]\n{question}\n\n");
    if let Some(reference) = reference {
        text.push_str(&format!(
            "[The Start of Reference Answer]\n{reference}\n[The End of Reference Answer]\n\n"
        ));
    }
    text.push_str(&format!(
        "[The Start of Assistant A's Answer]\n{a}\n[The End of Assistant A's Answer]\n\n\
         [The Start of Assistant B's Answer]\n{b}\n[The End of Assistant B's Answer]"
    ));
    vec![("system", system), ("user", text)]
}

/// The rating in `[[r]]` (or MT-Bench's fallback `[r]`), when it is within 1-10.
pub fn parse_rating(output: &str) -> Option<f64> {
    static DOUBLE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\[\[\s*(\d+(?:\.\d+)?)\s*(?:/\s*10\s*)?\]\]").unwrap());
    static SINGLE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\[\s*(\d+(?:\.\d+)?)\s*(?:/\s*10\s*)?\]").unwrap());
    let captured = DOUBLE
        .captures_iter(output)
        .last()
        .or_else(|| SINGLE.captures_iter(output).last())?;
    let rating: f64 = captured[1].parse().ok()?;
    (1.0..=10.0).contains(&rating).then_some(rating)
}

/// A pairwise verdict as the judge wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Preference {
    A,
    B,
    Tie,
}

/// The verdict `[[A]]`, `[[B]]` or `[[C]]` (tie); the last one written wins, and
/// an output naming none is malformed.
pub fn parse_preference(output: &str) -> Option<Preference> {
    static VERDICT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\[\[\s*([ABC])\s*\]\]").unwrap());
    let captured = VERDICT.captures_iter(output).last()?;
    Some(match &captured[1] {
        "A" => Preference::A,
        "B" => Preference::B,
        _ => Preference::Tie,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_are_parsed_as_mt_bench_does() {
        assert_eq!(parse_rating("Good answer. Rating: [[7]]"), Some(7.0));
        assert_eq!(parse_rating("Rating: [[8.5]]"), Some(8.5));
        assert_eq!(parse_rating("[[3/10]]"), Some(3.0));
        assert_eq!(parse_rating("I would give it [6]."), Some(6.0));
        // Double brackets win over single ones; the last rating counts.
        assert_eq!(parse_rating("see [2] ... Rating: [[9]]"), Some(9.0));
        assert_eq!(parse_rating("[[4]] no wait [[5]]"), Some(5.0));
        assert_eq!(parse_rating("Rating: [[11]]"), None);
        assert_eq!(parse_rating("Rating: 7"), None);
        assert_eq!(parse_rating(""), None);
    }

    #[test]
    fn preferences_are_parsed() {
        assert_eq!(parse_preference("A is right. [[A]]"), Some(Preference::A));
        assert_eq!(parse_preference("[[ B ]]"), Some(Preference::B));
        assert_eq!(parse_preference("equal: [[C]]"), Some(Preference::Tie));
        assert_eq!(
            parse_preference("[[A]] ... final: [[B]]"),
            Some(Preference::B)
        );
        assert_eq!(parse_preference("A is better"), None);
    }

    #[test]
    fn prompts_carry_the_question_answers_and_reference() {
        let m = single("Who won?", "Senna.", Some("Prost won."));
        assert!(m[1].1.contains("[Question]\nWho won?") && m[1].1.contains("Prost won."));
        assert!(!single("Who won?", "Senna.", None)[1]
            .1
            .contains("Reference"));
        let p = pairwise("Who won?", "Senna.", "Prost.", None);
        assert!(p[1].1.find("Senna.").unwrap() < p[1].1.find("Prost.").unwrap());
        assert!(p[0].1.contains("[[C]]"));
    }
}
