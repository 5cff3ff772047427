//! Names as keys for matching: how both sources and the assistant's resolver
//! compare a driver's, team's or race's name.

/// Lowercase ASCII words, accents transliterated: "Nico Hülkenberg" -> "nico hulkenberg".
pub fn key(text: &str) -> String {
    let ascii = deunicode::deunicode(text).to_lowercase();
    ascii
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
