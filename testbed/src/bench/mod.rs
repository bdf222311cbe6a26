//! `make bench`: one Envoy with listeners that differ only in their auth filter, driven in
//! turn by `wrk` with the same requests, so the filter's cost shows as the difference.

pub mod feed;
pub mod report;
pub mod settings;
pub mod stack;
pub mod wrk;
