//! An HDR histogram's V2 encoding (the one in `.hlog` interval logs) read straight into its
//! recorded `(index, count)` pairs, without building the histogram's full counts array.
//!
//! For: reading a day of per-second histograms fast (a full histogram allocates and zeroes
//! ~30 k counters per second of the run, and iterating it walks them all). The bucket arithmetic
//! stays the `hdrhistogram` crate's: [`Layout`] only turns an index into a value and asks a
//! histogram of the same bounds for that value's range. Not for: writing histograms, or
//! the V1/V0 encodings (the load engine writes V2 compressed, as `hdrhistogram` does).

use std::ops::RangeInclusive;

use hdrhistogram::Histogram;
use thiserror::Error;

/// The V2 cookie (uncompressed payload) and the V2 compressed cookie, as `hdrhistogram` writes
/// them: the base cookies with the word-size bits `0x10`.
const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9304 | 0x10;

/// Why an encoded histogram could not be read.
#[derive(Debug, Error, PartialEq)]
pub enum SparseError {
    /// The bytes end before the header or a count does.
    #[error("the encoded histogram is cut short ({0})")]
    Truncated(&'static str),
    /// The first four bytes are not a V2 cookie.
    #[error("not a V2 HDR histogram encoding (cookie {0:#010x})")]
    Cookie(u32),
    /// The zlib stream does not inflate.
    #[error("the compressed histogram does not inflate: {0}")]
    Inflate(String),
    /// Bounds or features this reader (like `hdrhistogram`) does not take.
    #[error("unsupported histogram parameters: {0}")]
    Parameters(String),
    /// A count lies beyond the histogram's range.
    #[error("the encoded counts run past the histogram's {0} buckets")]
    TooLong(usize),
}

/// Bounds shared by histograms whose indexes mean the same values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bounds {
    /// Lowest discernible value.
    pub low: u64,
    /// Highest trackable value.
    pub high: u64,
    /// Significant figures.
    pub sigfig: u8,
}

/// Maps a counts index to the value range it stands for, for one [`Bounds`].
#[derive(Debug, Clone)]
pub struct Layout {
    bounds: Bounds,
    template: Histogram<u64>,
    unit_magnitude: u32,
    half_count_magnitude: u32,
    half_count: u32,
}

impl Layout {
    /// The layout of histograms with these bounds.
    pub fn new(bounds: Bounds) -> Result<Layout, SparseError> {
        let template = Histogram::<u64>::new_with_bounds(bounds.low, bounds.high, bounds.sigfig)
            .map_err(|e| SparseError::Parameters(format!("{bounds:?}: {e:?}")))?;
        // The same derivation as `Histogram::new_with_bounds`.
        let largest = 2 * 10_u32.pow(u32::from(bounds.sigfig));
        let count_magnitude = f64::from(largest).log2().ceil() as u32;
        Ok(Layout {
            bounds,
            unit_magnitude: (bounds.low as f64).log2().floor() as u32,
            half_count_magnitude: count_magnitude - 1,
            half_count: 1 << (count_magnitude - 1),
            template,
        })
    }

    /// The bounds this layout is for.
    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// Number of counters (the largest index + 1).
    pub fn len(&self) -> usize {
        self.template.distinct_values()
    }

    /// True for a layout with no counters (never, for valid bounds).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values counter `index` counts: its lowest to highest equivalent value.
    pub fn range(&self, index: u32) -> RangeInclusive<u64> {
        let mut bucket = i64::from(index >> self.half_count_magnitude) - 1;
        let mut sub = (index & (self.half_count - 1)) + self.half_count;
        if bucket < 0 {
            sub -= self.half_count;
            bucket = 0;
        }
        let value = u64::from(sub) << (bucket as u32 + self.unit_magnitude);
        self.template.lowest_equivalent(value)..=self.template.highest_equivalent(value)
    }
}

/// One decoded histogram: its bounds and its non-zero counters in index order.
#[derive(Debug, Clone, PartialEq)]
pub struct Sparse {
    /// The histogram's bounds.
    pub bounds: Bounds,
    /// `(index, count)` for every non-zero counter, in index order.
    pub counts: Vec<(u32, u64)>,
}

/// Reusable buffers for [`Decoder::decode`].
pub struct Decoder {
    inflater: flate2::Decompress,
    inflated: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            inflater: flate2::Decompress::new(true),
            inflated: Vec::with_capacity(4096),
        }
    }
}

impl Decoder {
    /// Decodes one V2 (compressed or not) histogram encoding; `counters` is the number of counters
    /// the bounds allow (from [`Layout::len`]) when known, checked against every index.
    pub fn decode(&mut self, bytes: &[u8], counters: Option<usize>) -> Result<Sparse, SparseError> {
        let cookie = be_u32(bytes, 0, "cookie")?;
        match cookie {
            V2_COOKIE => decode_payload(&bytes[4..], counters),
            V2_COMPRESSED_COOKIE => {
                let len = be_u32(bytes, 4, "compressed length")? as usize;
                let body = bytes
                    .get(8..8 + len)
                    .ok_or(SparseError::Truncated("compressed payload"))?;
                self.inflate(body)?;
                let inner = be_u32(&self.inflated, 0, "inner cookie")?;
                if inner != V2_COOKIE {
                    return Err(SparseError::Cookie(inner));
                }
                decode_payload(&self.inflated[4..], counters)
            }
            other => Err(SparseError::Cookie(other)),
        }
    }

    fn inflate(&mut self, body: &[u8]) -> Result<(), SparseError> {
        self.inflater.reset(true);
        self.inflated.clear();
        loop {
            if self.inflated.capacity() == self.inflated.len() {
                self.inflated.reserve(self.inflated.capacity().max(1024));
            }
            let consumed = self.inflater.total_in() as usize;
            let status = self
                .inflater
                .decompress_vec(
                    &body[consumed..],
                    &mut self.inflated,
                    flate2::FlushDecompress::Finish,
                )
                .map_err(|e| SparseError::Inflate(e.to_string()))?;
            match status {
                flate2::Status::StreamEnd => return Ok(()),
                _ if self.inflater.total_in() as usize == body.len()
                    && self.inflated.len() < self.inflated.capacity() =>
                {
                    return Err(SparseError::Truncated("zlib stream"))
                }
                _ => {}
            }
        }
    }
}

fn be_u32(bytes: &[u8], at: usize, what: &'static str) -> Result<u32, SparseError> {
    let b = bytes.get(at..at + 4).ok_or(SparseError::Truncated(what))?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn be_u64(bytes: &[u8], at: usize, what: &'static str) -> Result<u64, SparseError> {
    let b = bytes.get(at..at + 8).ok_or(SparseError::Truncated(what))?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(u64::from_be_bytes(a))
}

/// The V2 payload after its cookie: length, normalizing offset, digits, low, high, the
/// integer-to-double ratio, then zig-zag LEB128 counts (a negative number is a run of zeros).
fn decode_payload(p: &[u8], counters: Option<usize>) -> Result<Sparse, SparseError> {
    let len = be_u32(p, 0, "payload length")? as usize;
    if be_u32(p, 4, "normalizing offset")? != 0 {
        return Err(SparseError::Parameters(
            "a normalizing index offset".to_string(),
        ));
    }
    let sigfig = u8::try_from(be_u32(p, 8, "significant figures")?)
        .map_err(|_| SparseError::Parameters("significant figures over 255".to_string()))?;
    let bounds = Bounds {
        low: be_u64(p, 12, "lowest value")?,
        high: be_u64(p, 20, "highest value")?,
        sigfig,
    };
    if f64::from_bits(be_u64(p, 28, "integer to double ratio")?) != 1.0 {
        return Err(SparseError::Parameters(
            "an integer to double ratio other than 1".to_string(),
        ));
    }
    let body = p
        .get(36..36 + len)
        .ok_or(SparseError::Truncated("counts"))?;
    let mut counts = Vec::new();
    let (mut at, mut index) = (0usize, 0u64);
    while at < body.len() {
        let (zz, read) = varint(&body[at..])?;
        at += read;
        let n = ((zz >> 1) as i64) ^ -((zz & 1) as i64);
        if n < 0 {
            index += n.unsigned_abs();
            continue;
        }
        if n > 0 {
            let i = u32::try_from(index).map_err(|_| SparseError::TooLong(u32::MAX as usize))?;
            if counters.is_some_and(|c| index >= c as u64) {
                return Err(SparseError::TooLong(counters.unwrap_or_default()));
            }
            counts.push((i, n as u64));
        }
        index += 1;
    }
    Ok(Sparse { bounds, counts })
}

/// One LEB128 number as HdrHistogram writes it: up to 8 bytes of 7 bits, the 9th byte whole.
fn varint(b: &[u8]) -> Result<(u64, usize), SparseError> {
    let mut value = 0u64;
    for (i, &byte) in b.iter().enumerate().take(9) {
        if i == 8 {
            return Ok((value | (u64::from(byte) << 56), 9));
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err(SparseError::Truncated("a count"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::{Serializer, V2DeflateSerializer, V2Serializer};
    use rand::{Rng, SeedableRng};

    fn ranges_of(h: &Histogram<u64>) -> Vec<(u64, u64, u64)> {
        h.iter_recorded()
            .map(|v| {
                let value = v.value_iterated_to();
                (
                    h.lowest_equivalent(value),
                    h.highest_equivalent(value),
                    v.count_at_value(),
                )
            })
            .collect()
    }

    fn sparse_ranges(s: &Sparse) -> Vec<(u64, u64, u64)> {
        let layout = Layout::new(s.bounds).expect("layout");
        s.counts
            .iter()
            .map(|&(i, c)| {
                let r = layout.range(i);
                (*r.start(), *r.end(), c)
            })
            .collect()
    }

    #[test]
    fn decodes_to_the_same_buckets_as_the_crate_for_random_histograms() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut decoder = Decoder::default();
        for round in 0..200 {
            let sigfig = [1, 2, 3, 4][round % 4];
            let low = [1, 1, 2, 1000][round % 4 / 2 + round % 2];
            let high = [60_000_000, 3_600_000_000, 1 << 40][round % 3];
            let mut h = Histogram::<u64>::new_with_bounds(low, high, sigfig).expect("bounds");
            for _ in 0..rng.random_range(0..500) {
                let v = rng.random_range(low..high.min(120_000_000));
                h.record_n(v, rng.random_range(1..1_000_000))
                    .expect("record");
            }
            if round % 5 == 0 {
                h.record(high).expect("record the highest");
            }
            let mut plain = Vec::new();
            V2Serializer::new()
                .serialize(&h, &mut plain)
                .expect("serialize");
            let mut deflated = Vec::new();
            V2DeflateSerializer::new()
                .serialize(&h, &mut deflated)
                .expect("serialize");
            let want = ranges_of(&h);
            let layout = Layout::new(Bounds { low, high, sigfig }).expect("layout");
            for bytes in [&plain, &deflated] {
                let s = decoder.decode(bytes, Some(layout.len())).expect("decode");
                assert_eq!(s.bounds, Bounds { low, high, sigfig });
                assert_eq!(sparse_ranges(&s), want, "round {round}");
            }
        }
    }

    #[test]
    fn bad_encodings_are_errors_not_panics() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
        h.record(12_345).expect("record");
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&h, &mut bytes)
            .expect("serialize");
        let mut decoder = Decoder::default();
        for cut in 0..bytes.len() {
            assert!(decoder.decode(&bytes[..cut], None).is_err(), "cut at {cut}");
        }
        assert_eq!(
            decoder.decode(b"\x00\x00\x00\x01rest", None),
            Err(SparseError::Cookie(1))
        );
        let mut plain = Vec::new();
        V2Serializer::new()
            .serialize(&h, &mut plain)
            .expect("serialize");
        assert_eq!(
            decoder.decode(&plain, Some(10)),
            Err(SparseError::TooLong(10))
        );
    }
}
