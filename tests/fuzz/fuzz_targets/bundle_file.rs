//! A bundle file as it lies on a stick: any bytes, read as the registry reads them (the outside without a
//! key, then decrypted with the targets' identity and verified). Nothing may panic or hang; items handed
//! out before an error are what a consumer must discard.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pendata::bundle::read::{self, Item};
use pendata_fuzz::keys::age_identity;

fuzz_target!(|data: &[u8]| {
    let _ = read::outside(data);
    let identity = [age_identity()];
    let mut revisions = 0u64;
    let verified = read::read(data, &identity, |item| {
        if let Item::Revision { .. } = item {
            revisions += 1;
        }
        Ok(())
    });
    if let Ok(v) = verified {
        // A verified bundle holds what its manifest says.
        assert_eq!(v.manifest.counts.revisions, revisions);
    }
});
