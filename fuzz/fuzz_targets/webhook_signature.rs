//! The settlement webhook's `Countersign-Signature` header: input is the header value, a
//! line break, then the raw body. Whatever verifies carries the body's real signature for
//! a time within the tolerance.

#![no_main]

use countersign::payments::webhook::{TOLERANCE_SECONDS, sign, verify};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "whsec_fuzz";
/// "Now" for every check; the seed headers are signed at this time.
const NOW: i64 = 1_800_000_000;

/// Whether `header` holds the v1 signature of `body` for some time the tolerance allows.
fn carries_a_real_signature(header: &str, body: &[u8]) -> bool {
    let header = header.to_ascii_lowercase();
    (NOW - TOLERANCE_SECONDS..=NOW + TOLERANCE_SECONDS).any(|t| {
        let signed = sign(SECRET, t, body);
        let (_, v1) = signed.split_once(",v1=").unwrap();
        header.contains(v1)
    })
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let Ok(header) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let body = data.get(split + 1..).unwrap_or_default();
    if verify(SECRET, header, body, NOW).is_ok() {
        assert!(
            carries_a_real_signature(header, body),
            "{header:?} verified"
        );
    }
    for now in [i64::MIN, 0, i64::MAX] {
        let _ = verify(SECRET, header, body, now);
    }
});
