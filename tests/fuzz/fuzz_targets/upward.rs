//! An upward bundle as the province opens it (`pendata registry import`): decrypted with the province's
//! identity, the envelope's signature checked with the key the payload names, the payload parsed; then
//! every revision verified back to its tablet's signature. Inputs use the package target's layout
//! (`src/package.rs`): a file as it is, or a payload the target signs as format 3 does and encrypts — whose
//! `registry.signing_key` must name the targets' receipt key for the signature to verify (the seeds do).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pendata::bundle::upward::{Upward, is_upward_name};
use pendata_fuzz::keys::age_identity;
use pendata_fuzz::package::upward_file;

fuzz_target!(|data: &[u8]| {
    let identity = age_identity();
    let Some(bytes) = upward_file(data, &identity.to_public()) else {
        return;
    };
    if let Ok((u, _)) = Upward::open(&bytes, std::slice::from_ref(&identity)) {
        let _ = u.verified();
        let name = u.file_name();
        assert!(is_upward_name(&name), "{name}");
    }
});
