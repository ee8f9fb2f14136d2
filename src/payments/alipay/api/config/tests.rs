use super::*;

const KEYS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/alipay/keys.json"
);

fn key(name: &str) -> String {
    let text = std::fs::read_to_string(KEYS).unwrap();
    let keys: serde_json::Value = serde_json::from_str(&text).unwrap();
    keys[name].as_str().unwrap().to_owned()
}

fn complete() -> AlipaySettings {
    AlipaySettings {
        app_id: Some(Text::Text("2021000000000001".into())),
        app_private_key: Some(Secret::new(key("app_private_key"))),
        alipay_public_key: Some(key("alipay_public_key")),
        gateway: Some("sandbox".into()),
        ..AlipaySettings::default()
    }
}

fn error(s: &AlipaySettings) -> String {
    format!(
        "{:#}",
        AlipayConfig::from_settings(s, "https://pay.example.com").unwrap_err()
    )
}

#[test]
fn a_complete_section_is_accepted_with_its_defaults() {
    let c = AlipayConfig::from_settings(&complete(), "https://pay.example.com").unwrap();
    assert_eq!(c.app_id, "2021000000000001");
    assert_eq!(c.gateway.as_str(), SANDBOX_GATEWAY);
    assert_eq!(c.notify_url, "https://pay.example.com/v1/webhooks/alipay");
    assert_eq!(c.timeout, Duration::from_millis(10_000));
}

#[test]
fn keys_never_show_in_debug_output() {
    let s = complete();
    let c = AlipayConfig::from_settings(&s, "https://pay.example.com").unwrap();
    let private_body = key("app_private_key").lines().nth(1).unwrap().to_owned();
    for shown in [format!("{s:?}"), format!("{c:?}")] {
        assert!(!shown.contains(&private_body), "{shown}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    }
}

#[test]
fn an_incomplete_section_says_what_is_missing() {
    let mut s = complete();
    s.app_id = None;
    assert!(error(&s).contains("alipay.app_id is missing"));
    let mut s = complete();
    s.app_private_key = None;
    assert!(error(&s).contains("alipay.app_private_key (or alipay.app_private_key_file)"));
    let mut s = complete();
    s.alipay_public_key = None;
    assert!(error(&s).contains("alipay.alipay_public_key"));
    let mut s = complete();
    s.gateway = None;
    assert!(error(&s).contains("alipay.gateway is missing"));
}

#[test]
fn keys_come_inline_or_from_a_file_never_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.pem");
    std::fs::write(&path, key("app_private_key")).unwrap();
    let mut s = complete();
    s.app_private_key = None;
    s.app_private_key_file = Some(path.clone());
    assert!(AlipayConfig::from_settings(&s, "https://x").is_ok());
    s.app_private_key = Some(Secret::new(key("app_private_key")));
    assert!(error(&s).contains("not both"));
    s.app_private_key = None;
    s.app_private_key_file = Some(dir.path().join("missing.pem"));
    assert!(error(&s).contains("missing.pem"));
}

#[test]
fn a_key_that_does_not_parse_is_refused_without_echoing_it() {
    let mut s = complete();
    s.app_private_key = Some(Secret::new(
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n".into(),
    ));
    let e = error(&s);
    assert!(
        e.starts_with("alipay.app_private_key: not an RSA key"),
        "{e}"
    );
    assert!(!e.contains("c2VjcmV0"), "{e}");
    let mut s = complete();
    s.alipay_public_key = Some(key("app_private_key"));
    assert!(error(&s).starts_with("alipay.alipay_public_key:"));
}

#[test]
fn gateways_are_presets_or_urls() {
    let mut s = complete();
    s.gateway = Some("production".into());
    let c = AlipayConfig::from_settings(&s, "https://x").unwrap();
    assert_eq!(c.gateway.as_str(), PRODUCTION_GATEWAY);
    s.gateway = Some("http://127.0.0.1:9000/gateway.do".into());
    assert!(AlipayConfig::from_settings(&s, "https://x").is_ok());
    s.gateway = Some("http://gateway.example.com/gateway.do".into());
    assert!(error(&s).contains("must be https"));
    s.gateway = Some("staging".into());
    assert!(error(&s).contains("neither sandbox, production nor a URL"));
}

#[test]
fn an_app_id_read_as_a_number_is_still_the_id() {
    let mut s = complete();
    s.app_id = Some(Text::Number(2021000000000001));
    let c = AlipayConfig::from_settings(&s, "https://x").unwrap();
    assert_eq!(c.app_id, "2021000000000001");
    s.app_id = Some(Text::Text("my-app".into()));
    assert!(error(&s).contains("numeric"));
}
