//! The fixed keys the fuzz targets set up, shared with the test that makes and checks their seeds
//! (`tests/fuzz_seeds.rs` includes this file). Test keys only: published here, they protect nothing.

/// The age X25519 identity every fuzzed bundle is encrypted to (the "registry" of the targets).
pub const AGE_IDENTITY: &str =
    "AGE-SECRET-KEY-12GFHCR8GE9HSS37HSRGRWMNQWUKHHMRLLUJ8C09L3HX7A9UWYQFS98QRMJ";

/// The seed of the Ed25519 key that signs fuzzed receipts (the registry's receipt key).
pub const RECEIPT_KEY_SEED: [u8; 32] = [7; 32];

/// The seed of the Ed25519 device key `bundle_inner` signs every manifest with.
pub const DEVICE_KEY_SEED: [u8; 32] = [9; 32];

/// The identity behind [`AGE_IDENTITY`].
pub fn age_identity() -> age::x25519::Identity {
    use std::str::FromStr;
    // A constant known to parse (the seeds test reads bundles with it); a fallback keeps this total.
    age::x25519::Identity::from_str(AGE_IDENTITY)
        .unwrap_or_else(|_| age::x25519::Identity::generate())
}
