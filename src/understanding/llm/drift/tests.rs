//! Drift read from calls made up here: the window, the baseline and each signal.

use super::*;

fn drift(on_alarm: OnAlarm) -> Drift {
    let config = DriftConfig {
        window: 10,
        on_alarm,
    };
    Drift::new(config, &[("m0".into(), "qwen".into())])
}

fn call(model: &str, scores: &[f64], failed: bool) -> Observation {
    Observation {
        model: Some(model.into()),
        fingerprint: Some("fp_1".into()),
        failed,
        scores: scores.to_vec(),
    }
}

/// Spread-out scores, as an attentive model gives.
fn varied(i: usize) -> Vec<f64> {
    vec![0.05 + 0.1 * (i % 7) as f64, 0.02 * (i % 5) as f64]
}

fn signals(d: &Drift) -> Vec<String> {
    let health = d.health();
    health["endpoints"][0]["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["signal"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_steady_endpoint_raises_nothing() {
    let d = drift(OnAlarm::Skip);
    for i in 0..35 {
        d.observe("m0", call("qwen-plus-0919", &varied(i), i % 10 == 3));
    }
    assert_eq!(signals(&d), Vec::<String>::new());
    assert!(!d.skips("m0"));
    let health = d.health();
    let e = &health["endpoints"][0];
    assert_eq!(e["baseline"]["reported_model"], "qwen-plus-0919");
    assert_eq!(e["baseline"]["figures"]["calls"], 10);
    assert_eq!(e["window"]["figures"]["calls"], 10);
    assert_eq!(e["window"]["size"], 10);
}

#[test]
fn another_reported_model_raises_at_once_and_is_skipped_when_the_merchant_says_so() {
    let d = drift(OnAlarm::Skip);
    for i in 0..3 {
        d.observe("m0", call("qwen-plus-0919", &varied(i), false));
    }
    d.observe("m0", call("qwen-plus-1201", &varied(3), false));
    assert_eq!(signals(&d), ["reported_model"]);
    assert!(d.skips("m0"));
    let evidence = d.health()["endpoints"][0]["signals"][0]["evidence"].clone();
    assert!(
        evidence
            .as_str()
            .unwrap()
            .contains("\"qwen-plus-1201\" in 1"),
        "{evidence}"
    );
    // Serving instead: the alarm stands, the endpoint is not skipped.
    let serving = drift(OnAlarm::Serve);
    serving.observe("m0", call("a", &[], false));
    serving.observe("m0", call("b", &[], false));
    assert_eq!(signals(&serving), ["reported_model"]);
    assert!(!serving.skips("m0"));
}

#[test]
fn scores_that_flat_line_raise_once_the_window_has_moved_on() {
    let d = drift(OnAlarm::Serve);
    for i in 0..10 {
        d.observe("m0", call("m", &varied(i), false));
    }
    for _ in 0..5 {
        d.observe("m0", call("m", &[0.1, 0.1], false));
    }
    assert_eq!(
        signals(&d),
        Vec::<String>::new(),
        "half the window still varied"
    );
    for _ in 0..5 {
        d.observe("m0", call("m", &[0.1, 0.1], false));
    }
    assert_eq!(signals(&d), ["scores_flat"]);
    // Varied answers again: the alarm clears as they fill the window.
    for i in 0..10 {
        d.observe("m0", call("m", &varied(i), false));
    }
    assert_eq!(signals(&d), Vec::<String>::new());
}

#[test]
fn a_spread_that_collapses_without_repeating_raises_too() {
    let d = drift(OnAlarm::Serve);
    for i in 0..10 {
        d.observe("m0", call("m", &varied(i), false));
    }
    for i in 0..10 {
        let tiny = 0.3 + 0.001 * i as f64;
        d.observe("m0", call("m", &[tiny, tiny + 0.0005], false));
    }
    assert_eq!(signals(&d), ["scores_flat"]);
    let evidence = d.health()["endpoints"][0]["signals"][0]["evidence"].clone();
    assert!(evidence.as_str().unwrap().contains("spread"), "{evidence}");
}

#[test]
fn a_jump_in_unusable_answers_raises() {
    let d = drift(OnAlarm::Serve);
    for i in 0..10 {
        d.observe("m0", call("m", &varied(i), i == 0));
    }
    for i in 0..10 {
        d.observe("m0", call("m", &varied(i), i % 3 == 0));
    }
    assert_eq!(signals(&d), ["failure_rate"]);
    let evidence = d.health()["endpoints"][0]["signals"][0]["evidence"].clone();
    assert!(evidence.as_str().unwrap().contains("40%"), "{evidence}");
    assert!(evidence.as_str().unwrap().contains("10%"), "{evidence}");
}

#[test]
fn unknown_endpoints_are_ignored() {
    let d = drift(OnAlarm::Skip);
    d.observe("elsewhere", call("x", &[], true));
    assert!(!d.skips("elsewhere"));
    assert_eq!(d.health()["endpoints"].as_array().unwrap().len(), 1);
}
