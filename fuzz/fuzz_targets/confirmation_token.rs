//! Confirmation tokens: only a token the key signed verifies, byte for byte.
//!
//! Input starting with 0xFF (never the start of UTF-8 text) is a list of edits to a token
//! minted here, 4 bytes each: operation, position (big-endian u16), byte. Anything else is
//! token text, verified as it is; of such text only the committed seed token is signed.

#![no_main]

use std::sync::LazyLock;

use countersign::confirmation::{Issued, Payload, Unsigned, key_for, verify};
use countersign::domain::{Action, Currency, Money, OrderId};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-merchant-secret";
const KID: &str = "k1";
/// A token signed with `SECRET`, also in the seed corpus.
const SEED_TOKEN: &str = include_str!("../corpus/confirmation_token/signed-refund");

static MINTED: LazyLock<Issued> = LazyLock::new(|| {
    Unsigned {
        session_id: "s1",
        merchant_id: "acme",
        action: Action::Refund {
            order_id: OrderId::parse("1042").unwrap(),
            amount: Money::parse("128.00", Currency::CNY).unwrap(),
            reason: Some("arrived broken 破损".into()),
        },
        summary: "Refund 128.00 CNY for order 1042.".into(),
        issued_at: countersign::clock::now(),
        ttl_seconds: 300,
        kid: KID,
    }
    .sign(SECRET)
});

fn check(token: &str) -> Option<Payload> {
    verify(token, |kid| (kid == KID).then(|| key_for(SECRET, kid))).ok()
}

fn edited(token: &str, edits: &[u8]) -> Vec<u8> {
    let mut bytes = token.as_bytes().to_vec();
    for edit in edits.chunks_exact(4) {
        let at = usize::from(u16::from_be_bytes([edit[1], edit[2]]));
        match edit[0] % 4 {
            0 if !bytes.is_empty() => {
                let len = bytes.len();
                bytes[at % len] = edit[3];
            }
            1 => bytes.insert(at % (bytes.len() + 1), edit[3]),
            2 if !bytes.is_empty() => {
                bytes.remove(at % bytes.len());
            }
            3 => bytes.truncate(at),
            _ => {}
        }
    }
    bytes
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((0xFF, edits)) => {
            let minted = &*MINTED;
            let bytes = edited(&minted.token, edits);
            let Ok(token) = std::str::from_utf8(&bytes) else {
                return;
            };
            match check(token) {
                Some(payload) => {
                    assert_eq!(token, minted.token, "an altered token verified");
                    assert_eq!(payload, minted.payload);
                }
                None => assert_ne!(token, minted.token, "the minted token was refused"),
            }
        }
        _ => {
            let Ok(token) = std::str::from_utf8(data) else {
                return;
            };
            let accepted = check(token).is_some();
            assert_eq!(accepted, token == SEED_TOKEN, "{token:?}");
        }
    }
});
