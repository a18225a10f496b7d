//! Bucket-resolution warnings: a latency threshold that does not fall on a histogram bucket
//! boundary is compared with an *interpolated* quantile, which can be off by up to the width of
//! the bucket that contains the threshold. A gate must not be decided inside that error silently.
//!
//! For: the check itself ([`check`]); the evaluator calls it for every comparison between
//! `histogram_quantile(...)` and a number, and the analysis layer can call it directly.
//! Not for: choosing buckets.

use std::fmt;

use super::quantile::{almost_equal, SMALL_DELTA_TOLERANCE};

/// A threshold that falls strictly inside a bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResolutionWarning {
    /// The threshold compared with the quantile.
    pub threshold: f64,
    /// Lower bound of the containing bucket (0 for the first bucket).
    pub lower: f64,
    /// Upper bound of the containing bucket (`+Inf` when above every finite bound).
    pub upper: f64,
}

impl ResolutionWarning {
    /// How far the interpolated quantile can be from the true one near the threshold: the width
    /// of the containing bucket (infinite when the threshold is above the last finite bound).
    pub fn max_error(&self) -> f64 {
        self.upper - self.lower
    }
}

impl fmt::Display for ResolutionWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.upper.is_infinite() {
            write!(
                f,
                "threshold {} is above the highest finite bucket bound {}: histogram_quantile cannot exceed {}, so the comparison cannot detect quantiles above it",
                self.threshold, self.lower, self.lower
            )
        } else {
            write!(
                f,
                "threshold {} is not a bucket boundary: it lies in bucket ({}, {}], so the interpolated quantile can be off by up to {} (the bucket's width) near the threshold; add a bucket boundary at {} to decide this gate exactly",
                self.threshold,
                self.lower,
                self.upper,
                self.max_error(),
                self.threshold
            )
        }
    }
}

/// Checks `threshold` against sorted bucket upper bounds (`+Inf` included or not). Returns None
/// when the threshold is a boundary (within 1e-12 relative), or when there are no finite bounds.
pub fn check(threshold: f64, bounds: &[f64]) -> Option<ResolutionWarning> {
    let finite: Vec<f64> = bounds.iter().copied().filter(|b| b.is_finite()).collect();
    if finite.is_empty() || threshold.is_nan() {
        return None;
    }
    if finite
        .iter()
        .any(|&b| almost_equal(b, threshold, SMALL_DELTA_TOLERANCE))
    {
        return None;
    }
    let upper_index = finite.iter().position(|&b| b > threshold);
    let (lower, upper) = match upper_index {
        Some(0) => (finite[0].min(0.0), finite[0]),
        Some(i) => (finite[i - 1], finite[i]),
        None => (finite[finite.len() - 1], f64::INFINITY),
    };
    Some(ResolutionWarning {
        threshold,
        lower,
        upper,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_and_inside() {
        let bounds = [0.05, 0.1, 0.2, 0.3, 0.5, f64::INFINITY];
        assert_eq!(check(0.2, &bounds), None);
        let w = check(0.25, &bounds).expect("inside (0.2, 0.3]");
        assert_eq!((w.lower, w.upper), (0.2, 0.3));
        assert!((w.max_error() - 0.1).abs() < 1e-15);
        assert!(w.to_string().contains("off by up to"));
        assert!(check(2.0, &bounds).expect("above").upper.is_infinite());
    }
}
