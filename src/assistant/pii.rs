//! PII redaction applied to every message before it is written to Zep: email addresses and phone
//! numbers are replaced by `[email]` and `[phone]` (the seed's decision: email and phone only,
//! addresses are already geocoded). Each redaction is counted by field type for
//! `memory_zep_redactions_total{field_type}`.
//!
//! Not for: the chat answer itself, which the user sees unredacted, or anything kept in memory
//! locally; only what leaves for Zep goes through here.

use std::sync::LazyLock;

use regex::Regex;

/// Matches email addresses.
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
        .unwrap_or_else(|err| unreachable!("the email pattern is a valid regex: {err}"))
});

/// Matches phone-number candidates: an optional `+`, digit groups separated by spaces, dots,
/// dashes or parentheses. A candidate is only redacted when it has at least [`MIN_PHONE_DIGITS`]
/// digits, so prices ("£150,000") and years stay.
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\+?\(?\d[\d\s().-]{6,}\d")
        .unwrap_or_else(|err| unreachable!("the phone pattern is a valid regex: {err}"))
});

/// Fewest digits in a phone number (national numbers without the trunk prefix have 9 or more in
/// the markets the assistant serves; 8 still catches short local numbers written with separators).
const MIN_PHONE_DIGITS: usize = 8;

/// Counts of what one redaction pass replaced.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Redactions {
    /// Email addresses replaced.
    pub email: u64,
    /// Phone numbers replaced.
    pub phone: u64,
}

impl Redactions {
    /// Adds another pass's counts.
    pub fn add(&mut self, other: Redactions) {
        self.email += other.email;
        self.phone += other.phone;
    }
}

/// Returns `text` with emails and phone numbers replaced, and how many of each were replaced.
pub fn redact(text: &str) -> (String, Redactions) {
    let mut counts = Redactions::default();
    let no_email = EMAIL.replace_all(text, |_: &regex::Captures<'_>| {
        counts.email += 1;
        "[email]"
    });
    let redacted = PHONE.replace_all(&no_email, |caps: &regex::Captures<'_>| {
        let candidate = &caps[0];
        let digits = candidate.chars().filter(char::is_ascii_digit).count();
        // Only separators that phone numbers use: a comma or a lone group is a price, not a phone.
        if digits >= MIN_PHONE_DIGITS && !candidate.contains(',') {
            counts.phone += 1;
            "[phone]".to_string()
        } else {
            candidate.to_string()
        }
    });
    (redacted.into_owned(), counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_phones_are_replaced_and_counted() {
        let (text, counts) = redact(
            "mail me at jane.doe+flats@example.co.uk or call +90 533 123 4567, or (0392) 815-1234",
        );
        assert_eq!(text, "mail me at [email] or call [phone], or [phone]");
        assert_eq!(counts, Redactions { email: 1, phone: 2 });
    }

    #[test]
    fn prices_bedrooms_and_years_are_left_alone() {
        for text in [
            "2BR in Girne under £150,000",
            "budget 250000",
            "built in 2019, 3 bed",
            "call 112",
        ] {
            let (out, counts) = redact(text);
            assert_eq!(out, text);
            assert_eq!(counts, Redactions::default());
        }
    }

    #[test]
    fn a_bare_ten_digit_number_is_a_phone() {
        let (out, counts) = redact("my number is 05331234567.");
        assert_eq!(out, "my number is [phone].");
        assert_eq!(counts.phone, 1);
    }
}
