//! A work package as the tablet opens it (`pendata package apply`): decrypted with the device's identity,
//! its registry signature checked, its payload parsed; then what the tablet reads of it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pendata::bundle::package::Package;
use pendata_fuzz::keys::age_identity;
use pendata_fuzz::package::{file, registry_key};

fuzz_target!(|data: &[u8]| {
    let identity = age_identity();
    let Some(bytes) = file(data, &identity.to_public()) else {
        return;
    };
    if let Ok(p) = Package::open(&bytes, &identity, &registry_key().verifying_key()) {
        let name = p.file_name();
        assert!(pendata::bundle::package::is_package_name(&name), "{name}");
        for f in &p.families {
            let _ = serde_json::to_vec(&f.answers);
        }
    }
});
