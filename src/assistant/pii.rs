//! PII redaction applied to every message before it is written to Zep: email addresses and phone
//! numbers are replaced by `[email]` and `[phone]` (the seed's decision: email and phone only,
//! addresses are already geocoded). Each redaction is counted by field type for
//! `memory_zep_redactions_total{field_type}`.
//!
//! Not for: the chat answer itself, which the user sees unredacted, or anything kept in memory
//! locally; only what leaves for Zep goes through here.

use crate::pii::{self, Kind};

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

/// Returns `text` with emails and phone numbers replaced, and how many of each were replaced. The
/// detection is [`crate::pii`]'s, the same that flags bodies in the fake Zep's journal.
pub fn redact(text: &str) -> (String, Redactions) {
    let (redacted, kinds) = pii::redact(text, &[Kind::Email, Kind::Phone]);
    let mut counts = Redactions::default();
    for kind in kinds {
        match kind {
            Kind::Email => counts.email += 1,
            Kind::Phone => counts.phone += 1,
            Kind::Card => {}
        }
    }
    (redacted, counts)
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
