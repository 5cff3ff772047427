//! Fact accuracy and the bootstrap.

use f1_eval::bootstrap::{confidence_interval, mean_at, paired_p_value};
use f1_eval::facts::{grade, normalize, Asked, FamilyEntities, Verdict};

fn aliases(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A question that names no driver, whose reference answer names only the gold.
const Q: Asked = Asked {
    question: "Who won the race?",
    reference: "",
};

/// `question` with a reference answer that names no other entity.
fn asked(question: &str) -> Asked<'_> {
    Asked {
        question,
        reference: "",
    }
}

fn drivers() -> FamilyEntities {
    let mut family = FamilyEntities::default();
    for entity in [
        &["Michael Schumacher", "Schumacher"][..],
        &["Ralf Schumacher", "Schumacher"],
        &["Kimi Räikkönen", "Räikkönen"],
        &["Max Verstappen", "Verstappen"],
    ] {
        family.add(&aliases(entity));
    }
    family
}

#[test]
fn gold_in_any_spelling_is_correct() {
    let gold = vec![aliases(&["Kimi Räikkönen", "Räikkönen"])];
    for answer in [
        "Kimi Raikkonen won it.",
        "RÄIKKÖNEN!",
        "It was Räikkönen, for Ferrari.",
    ] {
        assert_eq!(
            grade(Q, answer, &gold, &drivers()),
            Verdict::Correct,
            "{answer}"
        );
    }
    assert_eq!(normalize("Räikkönen, (Ferrari)"), " raikkonen ferrari ");
}

#[test]
fn missing_or_conflicting_entities_are_wrong() {
    let gold = vec![aliases(&["Michael Schumacher", "Schumacher"])];
    let family = drivers();
    assert_eq!(
        grade(Q, "Michael Schumacher.", &gold, &family),
        Verdict::Correct
    );
    assert_eq!(
        grade(Q, "Max Verstappen won.", &gold, &family),
        Verdict::Missing("Michael Schumacher".into())
    );
    assert_eq!(
        grade(Q, "Schumacher or maybe Verstappen", &gold, &family),
        Verdict::Conflicting("verstappen".into())
    );
    // The lenient reading takes the gold beside another entity, never without it.
    assert!(grade(Q, "Schumacher or maybe Verstappen", &gold, &family).states_gold());
    assert!(grade(Q, "Michael Schumacher.", &gold, &family).states_gold());
    assert!(!grade(Q, "Max Verstappen won.", &gold, &family).states_gold());
    // Words inside other words do not count.
    let number = vec![aliases(&["7", "seven"])];
    assert!(!grade(Q, "He won 17 titles", &number, &FamilyEntities::default()).is_correct());
    // A name beside a number does not compete with it; another number does.
    let mut counts = drivers();
    counts.add(&aliases(&["7", "seven"]));
    counts.add(&aliases(&["4"]));
    let answer = "Michael Schumacher won 7 titles.";
    assert!(grade(asked("How many titles?"), answer, &number, &counts).is_correct());
    assert_eq!(
        grade(Q, "7 titles, or 4", &number, &counts),
        Verdict::Conflicting("4".into())
    );
    assert!(grade(Q, "Seven titles.", &number, &FamilyEntities::default()).is_correct());
}

#[test]
fn entities_the_question_names_are_context_unless_it_is_either_or() {
    let gold = vec![aliases(&["Kimi Räikkönen", "Räikkönen"])];
    let family = drivers();
    let answer = "Kimi Räikkönen was Michael Schumacher's teammate.";
    assert_eq!(
        grade(
            asked("Who was Schumacher's teammate?"),
            answer,
            &gold,
            &family
        ),
        Verdict::Correct
    );
    // Not named by the question: a second driver as before.
    assert_eq!(
        grade(asked("Who was the teammate?"), answer, &gold, &family),
        Verdict::Conflicting("michael schumacher".into())
    );
    // Either/or: the question names the gold, so naming the other is a hedge.
    let either_or = "Raikkonen or Verstappen, who scored more?";
    assert_eq!(
        grade(asked(either_or), "Räikkönen or Verstappen.", &gold, &family),
        Verdict::Conflicting("verstappen".into())
    );
    assert_eq!(
        grade(asked(either_or), "Räikkönen scored more.", &gold, &family),
        Verdict::Correct
    );
}

#[test]
fn an_entity_the_reference_names_after_the_gold_is_context() {
    let gold = vec![aliases(&["Kimi Räikkönen", "Räikkönen"])];
    let family = drivers();
    let second = Asked {
        question: "Who was second?",
        reference: "Kimi Räikkönen finished second, behind the winner Max Verstappen.",
    };
    let verdict = |answer| grade(second, answer, &gold, &family);
    assert_eq!(
        verdict("Räikkönen was second, behind the winner Verstappen."),
        Verdict::Correct
    );
    // Named before the gold: the roles swapped.
    assert_eq!(
        verdict("Verstappen was second, behind the winner Räikkönen."),
        Verdict::Conflicting("verstappen".into())
    );
    // An entity the reference does not name is a second answer wherever it is,
    // and one it names is when offered as an alternative.
    assert_eq!(
        verdict("Räikkönen, or maybe Michael Schumacher."),
        Verdict::Conflicting("michael schumacher".into())
    );
    assert_eq!(
        verdict("Räikkönen, or maybe Verstappen."),
        Verdict::Conflicting("verstappen".into())
    );
    // Either/or: the question names both; the answer picks the gold first.
    let either_or = Asked {
        question: "Raikkonen or Verstappen, who scored more?",
        reference: "Kimi Räikkönen scored 10 points, Max Verstappen 8.",
    };
    assert_eq!(
        grade(
            either_or,
            "Räikkönen scored 10, Verstappen 8.",
            &gold,
            &family
        ),
        Verdict::Correct
    );
    assert_eq!(
        grade(either_or, "Räikkönen or Verstappen.", &gold, &family),
        Verdict::Conflicting("verstappen".into())
    );
}

#[test]
fn bootstrap_intervals_cover_the_mean_and_tighten_with_more_data() {
    let small: Vec<f64> = (0..20).map(|i| (i % 2) as f64).collect();
    let large: Vec<f64> = (0..2000).map(|i| (i % 2) as f64).collect();
    let a = confidence_interval(small.len(), 1000, 1, |s| mean_at(&small, s));
    let b = confidence_interval(large.len(), 1000, 1, |s| mean_at(&large, s));
    assert_eq!(a.value, 0.5);
    assert!(a.low < 0.5 && a.high > 0.5, "{a:?}");
    assert!(b.high - b.low < (a.high - a.low) / 4.0, "{a:?} {b:?}");
    assert_eq!(
        a,
        confidence_interval(small.len(), 1000, 1, |s| mean_at(&small, s)),
        "seeded"
    );
}

#[test]
fn paired_test_separates_real_differences_from_noise() {
    let better: Vec<f64> = (0..200)
        .map(|i| if i % 10 < 8 { 1.0 } else { 0.0 })
        .collect();
    let worse: Vec<f64> = (0..200)
        .map(|i| if i % 10 < 4 { 1.0 } else { 0.0 })
        .collect();
    let p = paired_p_value(
        200,
        1000,
        7,
        |s| mean_at(&better, s),
        |s| mean_at(&worse, s),
    );
    assert!(p < 0.01, "{p}");
    let same = paired_p_value(
        200,
        1000,
        7,
        |s| mean_at(&better, s),
        |s| mean_at(&better, s),
    );
    assert_eq!(same, 1.0);
    let shifted: Vec<f64> = (0..200)
        .map(|i| if (i + 1) % 10 < 8 { 1.0 } else { 0.0 })
        .collect();
    let noise = paired_p_value(
        200,
        1000,
        7,
        |s| mean_at(&better, s),
        |s| mean_at(&shifted, s),
    );
    assert!(noise > 0.2, "{noise}");
}
