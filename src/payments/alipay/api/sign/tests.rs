use std::collections::BTreeMap;

use serde_json::Value;

use super::*;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/alipay/vectors.json"
);
const KEYS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/alipay/keys.json"
);
const KEY_FORMS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/alipay/key_forms.json"
);

fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn key(name: &str) -> String {
    load(KEYS)[name].as_str().unwrap().to_owned()
}

/// A test key in another form, or one that must be refused (see the vectors' README).
fn key_form(name: &str) -> String {
    load(KEY_FORMS)[name].as_str().unwrap().to_owned()
}

/// The vectors of one kind; panics if there are none so a loop cannot pass vacuously.
fn cases(kind: &str) -> Vec<Value> {
    let all: Vec<Value> = serde_json::from_value(load(VECTORS)).unwrap();
    let picked: Vec<Value> = all.into_iter().filter(|c| c["kind"] == kind).collect();
    assert!(!picked.is_empty(), "no {kind} vectors");
    picked
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

fn app_signer() -> AppSigner {
    AppSigner::from_pem(&key("app_private_key")).unwrap()
}

fn platform() -> PlatformVerifier {
    PlatformVerifier::from_pem(&key("alipay_public_key")).unwrap()
}

/// Signs as the platform would, to build extra notifications and responses.
fn platform_signer() -> AppSigner {
    AppSigner::from_pem(&key("alipay_private_key")).unwrap()
}

fn valid_notify() -> Vec<(String, String)> {
    let case = cases("notify")
        .into_iter()
        .find(|c| c["valid"] == true)
        .unwrap();
    string_map(&case["form"]).into_iter().collect()
}

fn valid_response() -> String {
    let case = cases("sync_response")
        .into_iter()
        .find(|c| c["valid"] == true)
        .unwrap();
    case["raw"].as_str().unwrap().to_owned()
}

fn set(form: &mut [(String, String)], name: &str, value: &str) {
    form.iter_mut().find(|(k, _)| k == name).unwrap().1 = value.to_owned();
}

/// Base64 DER body of a PEM document, as Alipay's console hands keys out.
fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

const REFUND: &str = "alipay.trade.refund";

#[test]
fn request_vectors_match() {
    let signer = app_signer();
    for case in cases("request") {
        let name = case["name"].as_str().unwrap();
        let params = string_map(&case["params"]);
        assert_eq!(string_to_sign(&params), case["string_to_sign"], "{name}");
        assert_eq!(signer.sign(&params), case["sign"], "{name}");
        assert_eq!(signer.signed_query(&params), case["signed_query"], "{name}");
    }
}

#[test]
fn notify_vectors_match_expected_validity() {
    let verifier = platform();
    for case in cases("notify") {
        let form: Vec<(String, String)> = string_map(&case["form"]).into_iter().collect();
        let result = verifier.verify_notify(&form);
        if case["valid"] == true {
            assert!(result.is_ok(), "{}: {result:?}", case["name"]);
        } else {
            assert!(
                matches!(result, Err(VerifyError::BadSignature)),
                "{}: {result:?}",
                case["name"]
            );
        }
    }
}

#[test]
fn sync_response_vectors_match_expected_validity() {
    let verifier = platform();
    for case in cases("sync_response") {
        let raw = case["raw"].as_str().unwrap();
        let response_type = case["response_type"].as_str().unwrap();
        let method = response_type
            .strip_suffix("_response")
            .unwrap()
            .replace('_', ".");
        assert_eq!(response_key(&method), response_type);
        let result = verifier.verify_sync_response(raw, &method);
        if case["valid"] == true {
            let start = raw.find(":{").unwrap() + 1;
            let end = raw.find(r#","sign":""#).unwrap();
            assert_eq!(result.unwrap(), &raw[start..end], "{}", case["name"]);
        } else {
            assert!(
                matches!(result, Err(VerifyError::BadSignature)),
                "{}: {result:?}",
                case["name"]
            );
        }
    }
}

#[test]
fn sync_response_returns_a_slice_of_the_body() {
    let raw = valid_response();
    let content = platform().verify_sync_response(&raw, REFUND).unwrap();
    let body = raw.as_bytes().as_ptr_range();
    assert!(body.contains(&content.as_ptr()));
    assert!(content.len() < raw.len());
}

#[test]
fn string_to_sign_drops_sign_and_empty_values_and_sorts_bytewise() {
    let params: BTreeMap<String, String> = [
        ("b", "2"),
        ("B", "1"),
        ("ab", "4"),
        ("a_b", "3"),
        ("empty", ""),
        ("sign", "stale"),
        ("note", "x y&z=é"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(string_to_sign(&params), "B=1&a_b=3&ab=4&b=2&note=x y&z=é");
}

#[test]
fn signed_query_leaves_out_empty_values_and_ends_with_sign() {
    let signer = app_signer();
    let mut params = string_map(&cases("request")[0]["params"]);
    let baseline = signer.signed_query(&params);
    params.insert("notify_url".into(), String::new());
    params.insert("sign".into(), "stale".into());
    assert_eq!(signer.signed_query(&params), baseline);
    let sign = signer.sign(&params);
    assert!(baseline.ends_with(&format!("&sign={}", encode_component(&sign))));
}

#[test]
fn query_encoding_matches_form_quote_plus() {
    // Python: urllib.parse.quote_plus("a*b~c d+e/é_.-!'()%20")
    assert_eq!(
        encode_component("a*b~c d+e/é_.-!'()%20"),
        "a%2Ab~c+d%2Be%2F%C3%A9_.-%21%27%28%29%2520"
    );
    assert_eq!(encode_component("  "), "++");
    assert_eq!(encode_component(""), "");
}

#[test]
fn notify_with_any_value_changed_by_one_byte_is_rejected() {
    let verifier = platform();
    let form = valid_notify();
    let mut tried = 0;
    for (name, value) in &form {
        if name == "sign" || name == "sign_type" {
            continue;
        }
        let mut changed = value.clone();
        let last = changed.pop().unwrap();
        changed.push(if last == '0' { '1' } else { '0' });
        let mut tampered = form.clone();
        set(&mut tampered, name, &changed);
        let result = verifier.verify_notify(&tampered);
        assert!(
            matches!(result, Err(VerifyError::BadSignature)),
            "{name}: {result:?}"
        );
        tried += 1;
    }
    assert!(tried > 10);
}

#[test]
fn notify_with_other_sign_type_is_rejected() {
    let verifier = platform();
    for sign_type in ["RSA", "rsa2", "RSA2 ", ""] {
        let mut form = valid_notify();
        set(&mut form, "sign_type", sign_type);
        assert!(matches!(
            verifier.verify_notify(&form),
            Err(VerifyError::WrongSignType)
        ));
    }
    let mut form = valid_notify();
    form.retain(|(k, _)| k != "sign_type");
    assert!(matches!(
        verifier.verify_notify(&form),
        Err(VerifyError::MissingSignType)
    ));
}

#[test]
fn notify_without_sign_is_rejected() {
    let mut form = valid_notify();
    form.retain(|(k, _)| k != "sign");
    assert!(matches!(
        platform().verify_notify(&form),
        Err(VerifyError::MissingSignature)
    ));
}

#[test]
fn notify_with_duplicate_field_is_rejected() {
    let verifier = platform();
    for name in ["refund_fee", "sign", "sign_type"] {
        let mut form = valid_notify();
        let copy = form.iter().find(|(k, _)| k == name).unwrap().clone();
        form.push(copy);
        assert!(matches!(
            verifier.verify_notify(&form),
            Err(VerifyError::DuplicateField(field)) if field == name
        ));
    }
}

#[test]
fn notify_with_unsigned_extra_field_is_rejected() {
    let mut form = valid_notify();
    form.push(("refund_status".into(), "REFUND_SUCCESS".into()));
    assert!(matches!(
        platform().verify_notify(&form),
        Err(VerifyError::BadSignature)
    ));
}

#[test]
fn notify_field_order_does_not_matter() {
    let mut form = valid_notify();
    form.reverse();
    platform().verify_notify(&form).unwrap();
}

#[test]
fn notify_signs_empty_values_too() {
    let signer = platform_signer();
    let verifier = platform();
    let mut form = vec![
        ("out_trade_no".to_owned(), "order-1".to_owned()),
        ("body".to_owned(), String::new()),
        ("sign_type".to_owned(), "RSA2".to_owned()),
    ];
    let with_empty = signer.sign_content("body=&out_trade_no=order-1");
    form.push(("sign".into(), with_empty));
    verifier.verify_notify(&form).unwrap();

    set(
        &mut form,
        "sign",
        &signer.sign_content("out_trade_no=order-1"),
    );
    assert!(matches!(
        verifier.verify_notify(&form),
        Err(VerifyError::BadSignature)
    ));
}

#[test]
fn notify_with_garbage_signature_is_rejected() {
    let verifier = platform();
    let good = valid_notify()
        .into_iter()
        .find(|(k, _)| k == "sign")
        .unwrap()
        .1;
    let app_signed = app_signer().sign_content("anything");
    let huge = "A".repeat(10 << 20);
    let bad = [
        &good[..good.len() - 1],
        &good[..good.len() - 4],
        &good[4..],
        "",
        "!!!!",
        "AAAA",
        "====",
        &good.replace('+', " "),
        &app_signed,
        &huge,
    ];
    for sign in bad {
        let mut form = valid_notify();
        set(&mut form, "sign", sign);
        assert!(
            matches!(
                verifier.verify_notify(&form),
                Err(VerifyError::BadSignature)
            ),
            "{}",
            clip(sign)
        );
    }
}

#[test]
fn notify_signed_with_app_key_is_rejected() {
    let mut form = valid_notify();
    let content: BTreeMap<String, String> = form
        .iter()
        .filter(|(k, _)| k != "sign" && k != "sign_type")
        .cloned()
        .collect();
    set(&mut form, "sign", &app_signer().sign(&content));
    assert!(matches!(
        platform().verify_notify(&form),
        Err(VerifyError::BadSignature)
    ));
    // The same content signed with the platform key passes, so only the key differs.
    set(&mut form, "sign", &platform_signer().sign(&content));
    platform().verify_notify(&form).unwrap();
}

#[test]
fn sync_response_reserialized_with_other_whitespace_is_rejected() {
    let verifier = platform();
    let raw = valid_response();
    let inner_space = raw.replacen(r#","msg":"#, r#", "msg": "#, 1);
    assert!(matches!(
        verifier.verify_sync_response(&inner_space, REFUND),
        Err(VerifyError::BadSignature)
    ));
    let parsed: Value = serde_json::from_str(&raw).unwrap();
    let pretty = serde_json::to_string_pretty(&parsed).unwrap();
    assert!(matches!(
        verifier.verify_sync_response(&pretty, REFUND),
        Err(VerifyError::BadSignature)
    ));
}

#[test]
fn sync_response_whitespace_outside_the_object_is_fine() {
    let raw = valid_response();
    let expected = platform().verify_sync_response(&raw, REFUND).unwrap();
    let spaced = format!(
        " \n{}\n ",
        raw.replacen(":{", " :\t{", 1)
            .replacen(r#"},"sign":"#, "} , \"sign\" : ", 1)
    );
    assert_eq!(
        platform().verify_sync_response(&spaced, REFUND).unwrap(),
        expected
    );
}

#[test]
fn sync_response_scanner_respects_strings_and_escapes() {
    let content =
        r#"{"code":"10000","msg":"a \"}\" { [brace","path":"C:\\","n":[1,{"x":"}"}],"u":"\u005c"}"#;
    let sign = platform_signer().sign_content(content);
    let verifier = platform();
    let bodies = [
        format!(r#"{{"alipay_trade_refund_response":{content},"sign":"{sign}"}}"#),
        format!(
            r#"{{"sign":"{sign}","alipay_cert_sn":"x","alipay_trade_refund_response":{content}}}"#
        ),
    ];
    for body in &bodies {
        assert_eq!(
            verifier.verify_sync_response(body, REFUND).unwrap(),
            content
        );
    }
}

#[test]
fn sync_response_missing_parts_are_errors() {
    let verifier = platform();
    let raw = valid_response();
    assert!(matches!(
        verifier.verify_sync_response(&raw, "alipay.trade.query"),
        Err(VerifyError::MissingResponse(key)) if key == "alipay_trade_query_response"
    ));
    let unsigned = &raw[..raw.find(r#","sign":"#).unwrap()];
    let unsigned = format!("{unsigned}}}");
    assert!(matches!(
        verifier.verify_sync_response(&unsigned, REFUND),
        Err(VerifyError::MissingSignature)
    ));
    let error_only =
        r#"{"error_response":{"code":"40002","msg":"Invalid Arguments"},"sign":"AAAA"}"#;
    assert!(matches!(
        verifier.verify_sync_response(error_only, REFUND),
        Err(VerifyError::MissingResponse(_))
    ));
}

#[test]
fn sync_response_garbage_is_an_error() {
    let verifier = platform();
    let raw = valid_response();
    let sign = raw[raw.find(r#""sign":""#).unwrap() + 8..raw.len() - 2].to_owned();
    let deep = format!(
        r#"{{"alipay_trade_refund_response":{}{},"sign":"{sign}"}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let huge = format!(
        r#"{{"alipay_trade_refund_response":{{"x":"{}"}},"sign":"{sign}"}}"#,
        "a".repeat(20 << 20)
    );
    let malformed = [
        String::new(),
        "null".into(),
        "[]".into(),
        r#""alipay_trade_refund_response""#.into(),
        raw[..raw.len() - 1].to_owned(),
        raw[..raw.len() / 2].to_owned(),
        format!("{raw}x"),
        format!("{raw}{raw}"),
        raw.replacen(r#""sign":""#, r#""sign":1,"x":""#, 1),
        raw.replacen(r#""sign":"#, r#""sign":null,"sign":"#, 1),
        raw.replacen(
            "{\"alipay",
            "{\"alipay_trade_refund_response\":{},\"alipay",
            1,
        ),
        format!(r#"{{"alipay_trade_refund_response":"{{}}","sign":"{sign}"}}"#),
        format!(r#"{{"alipay_trade_refund_response":[{{}}],"sign":"{sign}"}}"#),
        deep,
        "\u{feff}{}".into(),
        r#"{"\ud800":1}"#.into(),
    ];
    for body in &malformed {
        let result = verifier.verify_sync_response(body, REFUND);
        assert!(
            matches!(result, Err(VerifyError::Malformed(_))),
            "{}: {result:?}",
            clip(body)
        );
    }
    assert!(matches!(
        verifier.verify_sync_response(&huge, REFUND),
        Err(VerifyError::BadSignature)
    ));
    let bad_sign = raw.replacen(r#""sign":""#, r#""sign":"%%"#, 1);
    assert!(matches!(
        verifier.verify_sync_response(&bad_sign, REFUND),
        Err(VerifyError::BadSignature)
    ));
}

#[test]
fn private_key_forms_all_sign_alike() {
    let pkcs1_pem = key("app_private_key");
    let pkcs8_pem = key_form("app_private_key_pkcs8");
    let pkcs8_crlf = pkcs8_pem.replace('\n', "\r\n");
    let pkcs8_bare = pem_body(&pkcs8_pem);
    let pkcs1_bare = pem_body(&pkcs1_pem);
    let case = &cases("request")[0];
    let params = string_map(&case["params"]);
    for text in [pkcs1_pem, pkcs8_pem, pkcs8_crlf, pkcs8_bare, pkcs1_bare] {
        let signer = AppSigner::from_pem(&format!("\n{text}\n")).unwrap();
        assert_eq!(signer.sign(&params), case["sign"]);
    }
}

#[test]
fn public_key_forms_all_verify() {
    let spki_pem = key("alipay_public_key");
    let pkcs1_pem = key_form("alipay_public_key_pkcs1");
    let spki_bare = pem_body(&spki_pem);
    let pkcs1_bare = pem_body(&pkcs1_pem);
    let form = valid_notify();
    for text in [spki_pem, pkcs1_pem, spki_bare, pkcs1_bare] {
        let verifier = PlatformVerifier::from_pem(&text).unwrap();
        verifier.verify_notify(&form).unwrap();
    }
}

#[test]
fn unusable_keys_are_refused() {
    let private = key("app_private_key");
    let public = key("app_public_key");
    for text in [
        "",
        "not a key",
        "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----",
        &public,
    ] {
        assert!(matches!(
            AppSigner::from_pem(text),
            Err(KeyError::Unrecognised)
        ));
    }
    for text in ["", "QUJD", &private, &pem_body(&private)] {
        assert!(matches!(
            PlatformVerifier::from_pem(text),
            Err(KeyError::Unrecognised)
        ));
    }
    let pem = key_form("public_key_1024");
    assert!(matches!(
        PlatformVerifier::from_pem(&pem),
        Err(KeyError::TooSmall(1024))
    ));
}

#[test]
fn keys_of_unsupported_sizes_are_refused() {
    assert!(matches!(
        AppSigner::from_pem(&key_form("private_key_1024")),
        Err(KeyError::TooSmall(1024))
    ));
    assert!(matches!(
        PlatformVerifier::from_pem(&key_form("public_key_4608")),
        Err(KeyError::TooLarge(4608))
    ));
    assert!(matches!(
        AppSigner::from_pem(&key_form("private_key_2560")),
        Err(KeyError::Refused(reason)) if reason == "PrivateModulusLenNotMultipleOf512Bits"
    ));
}

#[test]
fn signing_key_with_small_exponent_is_refused() {
    let result = AppSigner::from_pem(&key_form("private_key_exponent_3"));
    assert!(matches!(result, Err(KeyError::Refused(_))), "{result:?}");
}

#[test]
fn keys_of_other_algorithms_are_refused() {
    assert!(matches!(
        AppSigner::from_pem(&key_form("ec_private_key")),
        Err(KeyError::Unrecognised)
    ));
    assert!(matches!(
        PlatformVerifier::from_pem(&key_form("ec_public_key")),
        Err(KeyError::Unrecognised)
    ));
}

#[test]
fn public_key_under_a_private_label_is_refused() {
    let mislabelled = key("alipay_public_key").replace("PUBLIC KEY", "PRIVATE KEY");
    assert!(matches!(
        AppSigner::from_pem(&mislabelled),
        Err(KeyError::Unrecognised)
    ));
    let trailing = format!("{}\nextra", key("alipay_public_key"));
    assert!(matches!(
        PlatformVerifier::from_pem(&trailing),
        Err(KeyError::Unrecognised)
    ));
}

#[test]
fn signer_debug_hides_the_key() {
    assert_eq!(format!("{:?}", app_signer()), "AppSigner { .. }");
}
