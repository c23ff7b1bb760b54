//! The inside of a bundle: the fuzzer's bytes become a decrypted archive (`pendata_fuzz::inner`: as they
//! are, or built from a manifest, revision lines and attachments, signed with the target's device key and
//! with true hashes when the flags say so), encrypted to the target's identity and read as the registry
//! reads a bundle. This gets past age and the signature, to the archive, manifest and revision lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pendata::bundle::read::{self, Item};
use pendata_fuzz::inner;
use pendata_fuzz::keys::age_identity;

fuzz_target!(|data: &[u8]| {
    let Some(plain) = inner::archive(data) else {
        return;
    };
    let identity = age_identity();
    let Some(file) = inner::encrypt(&plain, &identity.to_public()) else {
        return;
    };
    let mut revisions = 0u64;
    let verified = read::read(file.as_slice(), std::slice::from_ref(&identity), |item| {
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
