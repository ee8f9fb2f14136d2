//! Any shopper message reads into a proposal that matches the extraction schema.

#![no_main]

use countersign::schema;
use countersign::understanding::offline::extract;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let extraction = extract(text);
    let value = serde_json::to_value(&extraction).unwrap();
    if let Err(e) = schema::check(&schema::EXTRACTION, &value) {
        panic!("{text:?} read into {value} which the schema refuses: {e}");
    }
});
