//! Small English formatting helpers for questions and answers.

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn date_parts(iso: &str) -> Option<(&str, usize, u32)> {
    let (year, rest) = iso.split_once('-')?;
    let (month, day) = rest.split_once('-')?;
    let month: usize = month.parse().ok()?;
    let day: u32 = day.parse().ok()?;
    (1..=12).contains(&month).then_some((year, month, day))
}

/// `2021-12-12` -> `12 December 2021` (unchanged when not an ISO date).
pub fn long_date(iso: &str) -> String {
    match date_parts(iso) {
        Some((year, month, day)) => format!("{day} {} {year}", MONTHS[month - 1]),
        None => iso.to_string(),
    }
}

/// `2021-12-12` -> `December 12, 2021`.
pub fn us_date(iso: &str) -> Option<String> {
    let (year, month, day) = date_parts(iso)?;
    Some(format!("{} {day}, {year}", MONTHS[month - 1]))
}

/// English words for 0 to 999 ("forty-two"); None outside that range.
pub fn number_words(n: i64) -> Option<String> {
    const ONES: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 10] = [
        "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    let n = usize::try_from(n).ok().filter(|n| *n < 1000)?;
    let below_hundred = |n: usize| match n {
        0..=19 => ONES[n].to_string(),
        _ if n.is_multiple_of(10) => TENS[n / 10].to_string(),
        _ => format!("{}-{}", TENS[n / 10], ONES[n % 10]),
    };
    Some(match (n / 100, n % 100) {
        (0, rest) => below_hundred(rest),
        (hundreds, 0) => format!("{} hundred", ONES[hundreds]),
        (hundreds, rest) => format!("{} hundred and {}", ONES[hundreds], below_hundred(rest)),
    })
}

/// `1` -> `1st`, `12` -> `12th`, `23` -> `23rd`.
pub fn ordinal(n: i64) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Points as F1 writes them: `25`, `19.5`.
pub fn points(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{p:.0}")
    } else {
        format!("{p}")
    }
}

/// `1 win`, `3 wins`.
pub fn count(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "A", "A and B", "A, B and C".
pub fn join_names<S: AsRef<str>>(names: &[S]) -> String {
    match names {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [rest @ .., last] => format!(
            "{} and {}",
            rest.iter()
                .map(AsRef::as_ref)
                .collect::<Vec<_>>()
                .join(", "),
            last.as_ref()
        ),
    }
}

/// Replaces each `{slot}` in `template` with its value.
pub fn fill<N: AsRef<str>>(template: &str, slots: &[(N, String)]) -> String {
    slots
        .iter()
        .fold(template.to_string(), |text, (name, value)| {
            text.replace(&format!("{{{}}}", name.as_ref()), value)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(long_date("2021-12-12"), "12 December 2021");
        assert_eq!(us_date("1997-09-30").unwrap(), "September 30, 1997");
        assert_eq!(long_date("not a date"), "not a date");
    }

    #[test]
    fn numbers_and_ordinals() {
        assert_eq!(number_words(7).unwrap(), "seven");
        assert_eq!(number_words(42).unwrap(), "forty-two");
        assert_eq!(number_words(105).unwrap(), "one hundred and five");
        assert_eq!(number_words(300).unwrap(), "three hundred");
        assert_eq!(number_words(1000), None);
        assert_eq!(
            [1, 2, 3, 4, 11, 12, 13, 21, 22, 111].map(ordinal),
            ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "111th"]
        );
        assert_eq!(points(25.0), "25");
        assert_eq!(points(0.5), "0.5");
    }

    #[test]
    fn joins_and_fills() {
        assert_eq!(join_names(&["A", "B", "C"]), "A, B and C");
        assert_eq!(join_names(&["A"]), "A");
        let slots = [("race", "2021 Abu Dhabi Grand Prix".to_string())];
        assert_eq!(
            fill("Who won the {race}?", &slots),
            "Who won the 2021 Abu Dhabi Grand Prix?"
        );
    }
}
