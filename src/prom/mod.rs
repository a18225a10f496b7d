//! The Prometheus toolkit: get series and evaluate the seed's PromQL exactly as Prometheus does.
//!
//! Three sources answer the same queries behind [`source::Source`]: a scrape of live targets into an
//! in-memory [`store::Store`], a run directory saved from such a store, and a real Prometheus (or
//! Thanos/Mimir) through its HTTP API. The evaluator in [`eval`] ports Prometheus's arithmetic
//! (`extrapolatedRate`, `BucketQuantile`, Kahan–Neumaier sums) so both give the same numbers.
//!
//! Not for: deciding verdicts (that is the analysis layer) or serving metrics.

pub mod api_client;
pub mod eval;
pub mod exposition;
pub mod labels;
pub mod scrape;
pub mod source;
pub mod store;
