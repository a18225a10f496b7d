//! The exact request mix: which kind of request a slot sends is decided by the slot number, not by
//! chance. One period of `W = Σ weights` slots is laid out by smooth weighted round robin (the nginx
//! upstream algorithm), which spreads each kind evenly through the period; slot *i* sends
//! `period[(i + offset) mod W]`, with the offset drawn from the seed. So with weights 9:1, every 10
//! consecutive slots hold exactly one read, and the same seed gives the same sequence.

use thiserror::Error;

/// Why a mix was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MixError {
    /// No kind has a positive weight.
    #[error("the request mix is empty: give at least one kind a positive weight")]
    Empty,
    /// The weights add up to more than the period this module lays out.
    #[error("the request mix weights add up to {0}; keep the sum at or below {MAX_PERIOD} (use smaller whole numbers)")]
    TooLarge(u64),
}

/// Largest period laid out.
pub const MAX_PERIOD: u64 = 100_000;

/// A deterministic request mix over `K` kinds, identified by their index in the weights given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    period: Vec<u16>,
    offset: usize,
}

impl Mix {
    /// A mix with these whole-number weights (index = kind), rotated by `seed`.
    pub fn new(weights: &[u32], seed: u64) -> Result<Mix, MixError> {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        if total == 0 {
            return Err(MixError::Empty);
        }
        if total > MAX_PERIOD {
            return Err(MixError::TooLarge(total));
        }
        let mut current = vec![0i64; weights.len()];
        let period = (0..total)
            .map(|_| {
                for (c, &w) in current.iter_mut().zip(weights) {
                    *c += i64::from(w);
                }
                // Highest current weight wins; ties go to the lower index, so the layout is fixed.
                let (chosen, _) =
                    current
                        .iter()
                        .enumerate()
                        .fold(
                            (0, i64::MIN),
                            |best, (i, &c)| if c > best.1 { (i, c) } else { best },
                        );
                current[chosen] -= total as i64;
                chosen as u16
            })
            .collect();
        Ok(Mix {
            period,
            offset: (splitmix64(seed) % total) as usize,
        })
    }

    /// The kind slot `slot` sends.
    pub fn kind(&self, slot: u64) -> usize {
        let index = (slot as usize).wrapping_add(self.offset) % self.period.len();
        usize::from(self.period[index])
    }

    /// Period length (sum of weights).
    pub fn period(&self) -> usize {
        self.period.len()
    }
}

/// A well-mixed 64-bit hash of `x` (SplitMix64's finaliser); stable across runs and platforms.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_percent_reads_is_exactly_one_in_every_ten_consecutive_slots() {
        let mix = Mix::new(&[9, 1], 42).unwrap();
        let kinds: Vec<usize> = (0..1000).map(|s| mix.kind(s)).collect();
        assert_eq!(kinds.iter().filter(|&&k| k == 1).count(), 100);
        for window in kinds.windows(10) {
            assert_eq!(window.iter().filter(|&&k| k == 1).count(), 1);
        }
        let again: Vec<usize> = (0..1000)
            .map(|s| Mix::new(&[9, 1], 42).unwrap().kind(s))
            .collect();
        assert_eq!(kinds, again, "same seed, same sequence");
        let other: Vec<usize> = (0..10)
            .map(|s| Mix::new(&[9, 1], 7).unwrap().kind(s))
            .collect();
        assert_eq!(other.iter().filter(|&&k| k == 1).count(), 1);
    }

    #[test]
    fn three_kinds_are_spread_evenly() {
        let mix = Mix::new(&[5, 3, 2], 1).unwrap();
        let kinds: Vec<usize> = (0..1000).map(|s| mix.kind(s)).collect();
        let count = |k| kinds.iter().filter(|&&x| x == k).count();
        assert_eq!((count(0), count(1), count(2)), (500, 300, 200));
        // Smooth: never more than two of the lightest kind in any 5 consecutive slots.
        assert!(kinds
            .windows(5)
            .all(|w| w.iter().filter(|&&k| k == 2).count() <= 2));
    }

    #[test]
    fn empty_and_oversized_mixes_are_refused() {
        assert_eq!(Mix::new(&[0, 0], 1), Err(MixError::Empty));
        assert_eq!(Mix::new(&[], 1), Err(MixError::Empty));
        assert_eq!(Mix::new(&[100_000, 1], 1), Err(MixError::TooLarge(100_001)));
    }
}
