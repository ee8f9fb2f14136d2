//! Any text a WebSocket client sends is answered with a frame or an error, never a panic.

#![no_main]

use countersign::workflow::frames::{ClientFrame, MAX_FRAME_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(frame) = ClientFrame::parse(text) {
        assert!(text.len() <= MAX_FRAME_BYTES);
        let _ = frame.kind();
    }
});
