//! A loopback stand-in for Alipay: a gateway that checks every request's RSA2 signature
//! with the app public key and answers with responses signed by the test platform key,
//! keeping books of the refunds and transfers it made; and notifications signed the same
//! way. Keys are the test-only pairs of tests/vectors/alipay/keys.json.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use countersign::payments::alipay::api::sign::{AppSigner, string_to_sign};
use ring::rand::SystemRandom;
use ring::signature::{
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use serde_json::{Value, json};
use tokio::sync::watch;

pub const APP_ID: &str = "2021000000000001";
pub const TRADE_NO: &str = "2026112222001400001234567890";
pub const TRANSFER_ORDER: &str = "20261122110070000006780000012345";

/// Longest a test waits for the gateway to be called.
const PATIENCE: Duration = Duration::from_secs(15);

pub fn key(name: &str) -> String {
    vector_key("keys.json", name)
}

/// A test key in another form (tests/vectors/alipay/key_forms.json).
fn key_form(name: &str) -> String {
    vector_key("key_forms.json", name)
}

fn vector_key(file: &str, name: &str) -> String {
    let path = format!("{}/tests/vectors/alipay/{file}", env!("CARGO_MANIFEST_DIR"));
    let keys: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    keys[name].as_str().unwrap().to_owned()
}

/// The DER inside a PEM document.
fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

/// How the gateway answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// As Alipay does: the first request with a number moves money, repeats do not.
    Answer,
    /// As `Answer`, but the first answer's signature is wrong.
    BadSignatureOnce,
    /// A signed business failure with this sub-code.
    Refuse(&'static str),
}

/// One request the gateway received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub verified: bool,
    pub params: BTreeMap<String, String>,
    pub biz: Value,
}

impl Seen {
    /// `out_request_no` of a refund, `out_biz_no` of a transfer.
    pub fn request_no(&self) -> &str {
        self.biz["out_request_no"]
            .as_str()
            .or(self.biz["out_biz_no"].as_str())
            .unwrap_or_default()
    }
}

struct Inner {
    script: Script,
    app_key: UnparsedPublicKey<Vec<u8>>,
    platform: RsaKeyPair,
    /// Money moved: request number → amount.
    books: Mutex<BTreeMap<String, String>>,
    seen: watch::Sender<Vec<Seen>>,
}

#[derive(Clone)]
pub struct FakeGateway {
    pub url: String,
    inner: Arc<Inner>,
}

impl FakeGateway {
    pub async fn start(script: Script) -> FakeGateway {
        let app_key = pem_der(&key_form("app_public_key_pkcs1"));
        let platform = pem_der(&key("alipay_private_key"));
        let inner = Arc::new(Inner {
            script,
            app_key: UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, app_key),
            platform: RsaKeyPair::from_der(&platform).unwrap(),
            books: Mutex::new(BTreeMap::new()),
            seen: watch::channel(Vec::new()).0,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/gateway.do", listener.local_addr().unwrap());
        let router = axum::Router::new()
            .route("/gateway.do", post(answer))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        FakeGateway { url, inner }
    }

    /// Waits until the gateway has received `n` requests and returns them all.
    pub async fn requests(&self, n: usize) -> Vec<Seen> {
        let mut rx = self.inner.seen.subscribe();
        let seen = tokio::time::timeout(PATIENCE, rx.wait_for(|s| s.len() >= n))
            .await
            .unwrap_or_else(|_| panic!("the gateway did not get {n} requests in {PATIENCE:?}"))
            .unwrap()
            .clone();
        assert!(
            seen.iter().all(|s| s.verified),
            "unsigned request: {seen:?}"
        );
        seen
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.inner.seen.borrow().clone()
    }

    /// The money the gateway moved: request number → amount.
    pub fn books(&self) -> BTreeMap<String, String> {
        self.inner.books.lock().unwrap().clone()
    }
}

async fn answer(State(gw): State<Arc<Inner>>, body: String) -> String {
    let params: BTreeMap<String, String> = serde_urlencoded::from_str(&body).unwrap();
    let verified = request_verifies(&gw, &params);
    let method = params.get("method").cloned().unwrap_or_default();
    let biz: Value = params
        .get("biz_content")
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    let seen = Seen {
        method: method.clone(),
        verified,
        params,
        biz,
    };
    let first = gw.seen.borrow().is_empty();
    let content = if verified {
        reply(&gw, &seen)
    } else {
        json!({"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature"})
    };
    gw.seen.send_modify(|s| s.push(seen));
    let key = countersign::payments::alipay::api::sign::response_key(&method);
    let content = content.to_string();
    let sign = if gw.script == Script::BadSignatureOnce && first {
        sign_raw(&gw.platform, "something else")
    } else {
        sign_raw(&gw.platform, &content)
    };
    format!(r#"{{"{key}":{content},"sign":"{sign}"}}"#)
}

/// Checks the request as the gateway does: common parameters and the RSA2 signature
/// over every parameter but `sign`.
fn request_verifies(gw: &Inner, params: &BTreeMap<String, String>) -> bool {
    let Some(sign) = params.get("sign") else {
        return false;
    };
    let Ok(signature) = STANDARD.decode(sign) else {
        return false;
    };
    let common = [
        ("app_id", APP_ID),
        ("charset", "utf-8"),
        ("sign_type", "RSA2"),
        ("version", "1.0"),
    ];
    let timestamp = params.get("timestamp").map(String::as_str).unwrap_or("");
    common
        .iter()
        .all(|(k, v)| params.get(*k).map(String::as_str) == Some(v))
        && chrono::NaiveDateTime::parse_from_str(timestamp, "%Y-%m-%d %H:%M:%S").is_ok()
        && params
            .get("notify_url")
            .is_some_and(|u| u.ends_with("/v1/webhooks/alipay"))
        && gw
            .app_key
            .verify(string_to_sign(params).as_bytes(), &signature)
            .is_ok()
}

/// The response object, moving money for a request number the first time only.
fn reply(gw: &Inner, seen: &Seen) -> Value {
    if let Script::Refuse(sub_code) = gw.script {
        return json!({"code": "40004", "msg": "Business Failed", "sub_code": sub_code,
            "sub_msg": "refused by the test gateway"});
    }
    let amount = seen.biz["refund_amount"]
        .as_str()
        .or(seen.biz["trans_amount"].as_str())
        .unwrap_or_default()
        .to_owned();
    let new = gw
        .books
        .lock()
        .unwrap()
        .insert(seen.request_no().to_owned(), amount.clone())
        .is_none();
    match seen.method.as_str() {
        "alipay.trade.refund" => json!({"code": "10000", "msg": "Success", "trade_no": TRADE_NO,
            "out_trade_no": seen.biz["out_trade_no"], "buyer_logon_id": "abc***@example.com",
            "fund_change": if new { "Y" } else { "N" }, "refund_fee": amount}),
        "alipay.fund.trans.uni.transfer" => json!({"code": "10000", "msg": "Success",
            "out_biz_no": seen.request_no(), "order_id": TRANSFER_ORDER,
            "pay_fund_order_id": "20261122110070001506780000054321", "status": "SUCCESS",
            "trans_date": "2026-11-22 10:16:00"}),
        _ => json!({"code": "40004", "msg": "Business Failed", "sub_code": "isv.invalid-method"}),
    }
}

fn sign_raw(key: &RsaKeyPair, content: &str) -> String {
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        content.as_bytes(),
        &mut signature,
    )
    .unwrap();
    STANDARD.encode(signature)
}

/// Signs notification fields as the platform does: everything but `sign` and
/// `sign_type`, sorted.
pub fn signed_notify(fields: &[(&str, &str)], signing_key: &str) -> Vec<(String, String)> {
    let mut form: BTreeMap<String, String> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let sign = AppSigner::from_pem(&key(signing_key)).unwrap().sign(&form);
    form.insert("sign_type".into(), "RSA2".into());
    form.insert("sign".into(), sign);
    form.into_iter().collect()
}

/// A refund notification as Alipay sends it, signed by the test platform key.
pub fn refund_notify(
    request_no: &str,
    out_trade_no: &str,
    refund_fee: &str,
) -> Vec<(String, String)> {
    let notify_id = uuid::Uuid::new_v4().simple().to_string();
    signed_notify(
        &[
            ("notify_time", "2026-11-22 10:15:02"),
            ("notify_type", "trade_status_sync"),
            ("notify_id", &notify_id),
            ("charset", "utf-8"),
            ("version", "1.0"),
            ("app_id", APP_ID),
            ("trade_no", TRADE_NO),
            ("out_trade_no", out_trade_no),
            ("out_biz_no", request_no),
            ("total_amount", "128.00"),
            ("refund_fee", refund_fee),
            ("gmt_refund", "2026-11-22 10:15:01.235"),
            ("trade_status", "TRADE_SUCCESS"),
            ("subject", "保温杯 Thermos 500ml"),
        ],
        "alipay_private_key",
    )
}

/// A transfer's status message, signed by the test platform key.
pub fn transfer_notify(request_no: &str, amount: &str, status: &str) -> Vec<(String, String)> {
    let notify_id = uuid::Uuid::new_v4().simple().to_string();
    let content = json!({"out_biz_no": request_no, "order_id": TRANSFER_ORDER, "status": status,
        "trans_amount": amount, "biz_scene": "DIRECT_TRANSFER", "product_code": "TRANS_ACCOUNT_NO_PWD"})
    .to_string();
    signed_notify(
        &[
            ("notify_id", &notify_id),
            ("utc_timestamp", "1795400160000"),
            ("msg_method", "alipay.fund.trans.order.changed"),
            ("app_id", APP_ID),
            ("version", "1.1"),
            ("charset", "utf-8"),
            ("biz_content", &content),
        ],
        "alipay_private_key",
    )
}
