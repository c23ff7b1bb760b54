//! Support for the fuzz targets in `fuzz_targets/`: the fixed keys and the bundle made from fuzzer bytes.

pub mod inner;
pub mod keys;
pub mod package;
