//! Alipay's asynchronous notifications: the form-encoded body as the webhook receives it,
//! verified with the test vectors' platform key. Only the vectors' signed notification
//! verifies (its fields in any order); every form is also read as a notice, which must
//! never panic.

#![no_main]

use std::sync::LazyLock;

use countersign::payments::alipay::api::notice;
use countersign::payments::alipay::api::sign::PlatformVerifier;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const KEYS: &str = include_str!("../../tests/vectors/alipay/keys.json");
const VECTORS: &str = include_str!("../../tests/vectors/alipay/vectors.json");

static VERIFIER: LazyLock<PlatformVerifier> = LazyLock::new(|| {
    let keys: Value = serde_json::from_str(KEYS).unwrap();
    PlatformVerifier::from_pem(keys["alipay_public_key"].as_str().unwrap()).unwrap()
});

/// The fields of every notification the vectors say verifies, sorted.
static SIGNED: LazyLock<Vec<Vec<(String, String)>>> = LazyLock::new(|| {
    let cases: Vec<Value> = serde_json::from_str(VECTORS).unwrap();
    cases
        .iter()
        .filter(|c| c["kind"] == "notify" && c["valid"] == true)
        .map(|c| {
            let fields = c["form"].as_object().unwrap().iter();
            sorted(fields.map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())))
        })
        .collect()
});

fn sorted(form: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut form: Vec<_> = form.into_iter().collect();
    form.sort();
    form
}

fuzz_target!(|data: &[u8]| {
    let Ok(form) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(data) else {
        return;
    };
    if VERIFIER.verify_notify(&form).is_ok() {
        assert!(SIGNED.contains(&sorted(form.clone())), "{form:?} verified");
    }
    if let Ok(notice) = notify::read(&form) {
        let _ = notice.event_id();
    }
});
