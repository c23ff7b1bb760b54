//! A receipt file as the tablet reads it: any bytes, opened with the registry's key; then the same
//! envelope re-signed with that key, so the fuzzer reaches the payload's parsing and checks too.
#![no_main]

use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;
use pendata::bundle::hex;
use pendata::bundle::receipt::Receipt;
use pendata_fuzz::keys::RECEIPT_KEY_SEED;
use serde_json::value::RawValue;

#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    payload: &'a RawValue,
}

fuzz_target!(|data: &[u8]| {
    let key = SigningKey::from_bytes(&RECEIPT_KEY_SEED);
    let _ = Receipt::open(data, &key.verifying_key());
    let Ok(env) = serde_json::from_slice::<Envelope<'_>>(data) else {
        return;
    };
    let payload = env.payload.get();
    let signed = format!(
        "{{\"signature\": \"{}\", \"payload\": {payload}}}",
        hex(&key.sign(payload.as_bytes()).to_bytes())
    );
    if let Ok(r) = Receipt::open(signed.as_bytes(), &key.verifying_key()) {
        let _ = r.file_name();
        assert!(r.accepted.iter().all(|s| s.from >= 1 && s.from <= s.to));
    }
});
