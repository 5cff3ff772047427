//! Fact accuracy and the bootstrap.

use f1_eval::bootstrap::{confidence_interval, mean_at, paired_p_value};
use f1_eval::facts::{grade, normalize, FamilyEntities, Verdict};

fn aliases(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A question that names no driver.
const Q: &str = "Who won the race?";

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
    assert!(grade("How many titles?", answer, &number, &counts).is_correct());
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
        grade("Who was Schumacher's teammate?", answer, &gold, &family),
        Verdict::Correct
    );
    // Not named by the question: a second driver as before.
    assert_eq!(
        grade("Who was the teammate?", answer, &gold, &family),
        Verdict::Conflicting("michael schumacher".into())
    );
    // Either/or: the question names the gold, so naming the other is a hedge.
    let either_or = "Raikkonen or Verstappen, who scored more?";
    assert_eq!(
        grade(either_or, "Räikkönen or Verstappen.", &gold, &family),
        Verdict::Conflicting("verstappen".into())
    );
    assert_eq!(
        grade(either_or, "Räikkönen scored more.", &gold, &family),
        Verdict::Correct
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
