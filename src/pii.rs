//! Personal data in free text: email addresses, phone numbers and payment card numbers.
//!
//! One mechanism for both sides of the memory contract: the fake Zep flags bodies that carry any of
//! these (so a test can assert that none reached Zep), and the reference assistant redacts them before
//! it writes. Card numbers are digit runs of 13 to 19 digits that pass the Luhn check; phone numbers
//! are other runs of 8 to 15 digits (spaces, dots, dashes and parentheses allowed), so prices, years
//! and bedroom counts are not flagged.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// A kind of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An email address.
    Email,
    /// A phone number.
    Phone,
    /// A payment card number.
    Card,
}

impl Kind {
    /// The label value used in metrics and journals (`email`, `phone`, `card`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Card => "card",
        }
    }
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
        .expect("valid regex")
});
static DIGITS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+?\(?\d[\d\s().-]{5,}\d").expect("valid regex"));

/// A match: its kind and byte range in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// What it is.
    pub kind: Kind,
    /// Byte range in the text.
    pub range: std::ops::Range<usize>,
}

/// Every piece of personal data in `text`, in order of position.
pub fn find(text: &str) -> Vec<Found> {
    let mut found: Vec<Found> = EMAIL
        .find_iter(text)
        .map(|m| Found {
            kind: Kind::Email,
            range: m.range(),
        })
        .collect();
    for m in DIGITS.find_iter(text) {
        if found
            .iter()
            .any(|f| f.range.start < m.end() && m.start() < f.range.end)
        {
            continue;
        }
        let digits: Vec<u32> = m.as_str().chars().filter_map(|c| c.to_digit(10)).collect();
        let kind = match digits.len() {
            13..=19 if luhn(&digits) => Kind::Card,
            8..=15 => Kind::Phone,
            _ => continue,
        };
        found.push(Found {
            kind,
            range: m.range(),
        });
    }
    found.sort_by_key(|f| f.range.start);
    found
}

/// The distinct kinds present in `text`.
pub fn kinds(text: &str) -> Vec<Kind> {
    let mut kinds: Vec<Kind> = find(text).into_iter().map(|f| f.kind).collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// `text` with every match of the given kinds replaced by `[email]`, `[phone]` or `[card]`, and the
/// kinds replaced, one entry per match.
pub fn redact(text: &str, kinds: &[Kind]) -> (String, Vec<Kind>) {
    let found: Vec<Found> = find(text)
        .into_iter()
        .filter(|f| kinds.contains(&f.kind))
        .collect();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for f in &found {
        out.push_str(&text[last..f.range.start]);
        out.push_str(match f.kind {
            Kind::Email => "[email]",
            Kind::Phone => "[phone]",
            Kind::Card => "[card]",
        });
        last = f.range.end;
    }
    out.push_str(&text[last..]);
    (out, found.into_iter().map(|f| f.kind).collect())
}

fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_kind_and_ignores_prices() {
        assert_eq!(kinds("mail me at jane.doe@example.co.uk"), [Kind::Email]);
        assert_eq!(kinds("call +90 533 123 45 67 tonight"), [Kind::Phone]);
        assert_eq!(kinds("card 4111 1111 1111 1111"), [Kind::Card]);
        assert_eq!(kinds("2BR in Girne under 150000 GBP, built 2019"), []);
        // 16 digits that fail Luhn: too long for a phone, not a card.
        assert_eq!(kinds("ref 4111 1111 1111 1112"), []);
    }

    #[test]
    fn redaction_replaces_only_the_matches() {
        let all = [Kind::Email, Kind::Phone, Kind::Card];
        let (text, kinds) = redact("x a@b.io y +44 20 7946 0958 z 4111-1111-1111-1111", &all);
        assert_eq!(text, "x [email] y [phone] z [card]");
        assert_eq!(kinds, [Kind::Email, Kind::Phone, Kind::Card]);
        let (text, _) = redact("a@b.io 4111 1111 1111 1111", &[Kind::Email]);
        assert_eq!(text, "[email] 4111 1111 1111 1111");
    }
}
