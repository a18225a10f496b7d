//! The canary split: a share of threads (10% in the seed's plan) goes to the canary, chosen by a
//! stable hash of the thread id, as the seed's canary splits by thread. The same thread always lands
//! on the same side, on every run and every machine, so a conversation never switches variants.

use super::mix::splitmix64;

pub use crate::variant::Variant;

/// Splits threads between baseline and canary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Split {
    /// Canary share in basis points (1/100 of a percent), 0 to 10,000.
    basis_points: u64,
}

impl Split {
    /// A split sending `percent` (0 to 100) of threads to the canary.
    pub fn new(percent: f64) -> Split {
        let clamped = if percent.is_finite() {
            percent.clamp(0.0, 100.0)
        } else {
            0.0
        };
        Split {
            basis_points: (clamped * 100.0).round() as u64,
        }
    }

    /// The variant serving `thread_id`.
    pub fn variant(&self, thread_id: &str) -> Variant {
        if stable_hash(thread_id) % 10_000 < self.basis_points {
            Variant::Canary
        } else {
            Variant::Baseline
        }
    }
}

/// FNV-1a over the bytes, then SplitMix64 to spread the bits: stable across Rust versions, unlike
/// `std`'s `DefaultHasher`.
pub fn stable_hash(text: &str) -> u64 {
    let fnv = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    splitmix64(fnv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_percent_of_threads_go_to_the_canary_stably() {
        let split = Split::new(10.0);
        let canary = (0..10_000)
            .filter(|i| split.variant(&format!("thread-{i}")) == Variant::Canary)
            .count();
        // Binomial(10000, 0.1): sd 30; 4 sd either side.
        assert!((880..=1120).contains(&canary), "{canary} of 10,000");
        assert_eq!(
            split.variant("thread-7"),
            Split::new(10.0).variant("thread-7")
        );
        // Pinned (computed independently): a change of hash would move threads between variants.
        assert_eq!(stable_hash("thread-7"), 0x95ce_5024_3d74_470a);
    }

    #[test]
    fn extremes() {
        assert!((0..100).all(|i| Split::new(0.0).variant(&i.to_string()) == Variant::Baseline));
        assert!((0..100).all(|i| Split::new(100.0).variant(&i.to_string()) == Variant::Canary));
        assert_eq!(Split::new(f64::NAN), Split::new(0.0));
    }
}
