//! Amounts: whatever parses is non-negative and reads back unchanged from its own
//! formatting, as a decimal string and in the JSON wire form.

#![no_main]

use countersign::domain::{Currency, Money};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(currency) = Currency::parse(text) {
        assert_eq!(currency.code(), text);
    }
    // Two decimals and none: the exponents merchants' currencies have.
    for code in ["CNY", "JPY"] {
        let currency = Currency::parse(code).unwrap();
        let Ok(money) = Money::parse(text, currency) else {
            continue;
        };
        assert!(money.minor() >= 0, "{text:?} parsed negative");
        let formatted = money.value_string();
        assert_eq!(
            Money::parse(&formatted, currency),
            Ok(money),
            "{text:?} formats as {formatted:?}"
        );
        let wire = serde_json::to_string(&money).unwrap();
        assert_eq!(serde_json::from_str::<Money>(&wire).unwrap(), money);
    }
});
