//! One spelling for a gap to the winner.
//!
//! The Kaggle results table writes gaps of a minute or more as seconds (`+64.773`)
//! from 1996 on and as minutes before (`+1:04.773`); its sprint table and the API use
//! minutes throughout. Both sources are stored in the API's spelling.

use std::borrow::Cow;

/// `+64.773` becomes `+1:04.773`; anything else (a winner's time, a short gap, text)
/// is returned unchanged.
pub fn normalize_gap(time: &str) -> Cow<'_, str> {
    let Some(gap) = time.strip_prefix('+') else {
        return Cow::Borrowed(time);
    };
    let (whole, fraction) = gap.split_once('.').unwrap_or((gap, ""));
    match whole.parse::<u64>() {
        Ok(seconds) if seconds >= 60 && whole.bytes().all(|b| b.is_ascii_digit()) => {
            let dot = if fraction.is_empty() { "" } else { "." };
            Cow::Owned(format!(
                "+{}:{:02}{dot}{fraction}",
                seconds / 60,
                seconds % 60
            ))
        }
        _ => Cow::Borrowed(time),
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_gap;

    #[test]
    fn long_gaps_are_written_in_minutes() {
        assert_eq!(normalize_gap("+64.773"), "+1:04.773");
        assert_eq!(normalize_gap("+121.5"), "+2:01.5");
        assert_eq!(normalize_gap("+60"), "+1:00");
    }

    #[test]
    fn everything_else_is_unchanged() {
        for time in [
            "+59.999",
            "+1:04.773",
            "1:34:50.616",
            "+1 Lap",
            "",
            "+abc.1",
        ] {
            assert_eq!(normalize_gap(time), time);
        }
    }
}
