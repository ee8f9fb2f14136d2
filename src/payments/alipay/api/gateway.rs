//! Calls to the open-platform gateway: the common parameters, the RSA2 signature, a
//! form-encoded POST with a timeout, and the response's signature checked before any of
//! it is read.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};

use super::config::AlipayConfig;
use super::sign::{SIGN_TYPE, VerifyError};

/// The most of a response body that is read.
const BODY_CAP: usize = 64 * 1024;

/// Why a call has no verified answer. In every case the outcome is unknown.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the gateway did not answer in time")]
    Timeout,
    #[error("the gateway could not be reached: {0}")]
    Transport(String),
    #[error("the gateway answered HTTP {0}")]
    Status(u16),
    #[error("the gateway's answer is longer than {BODY_CAP} bytes")]
    TooLarge,
    #[error("the gateway's answer is not UTF-8")]
    NotUtf8,
    /// The answer is unsigned, badly signed or not the expected JSON. `hint` is what the
    /// answer claims (unverified), for the operator.
    #[error("the gateway's answer was not verified ({error}){hint}")]
    Unverified { error: VerifyError, hint: String },
}

/// A client for one app on one gateway.
pub struct Gateway {
    config: AlipayConfig,
    http: reqwest::Client,
}

impl Gateway {
    pub fn new(config: AlipayConfig) -> anyhow::Result<Self> {
        let http = crate::http_client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Gateway { config, http })
    }

    pub fn config(&self) -> &AlipayConfig {
        &self.config
    }

    /// Calls `method` with `biz_content` and returns the text of its verified
    /// `<method>_response` object.
    pub async fn call(&self, method: &str, biz_content: &str) -> Result<String, CallError> {
        let params = request_params(&self.config, method, biz_content, Utc::now());
        let body = self.config.signer.signed_query(&params);
        let response = self
            .http
            .post(self.config.gateway.clone())
            .header(
                "content-type",
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(CallError::Status(status));
        }
        let text = read_capped(response).await?;
        match self.config.verifier.verify_sync_response(&text, method) {
            Ok(content) => Ok(content.to_owned()),
            Err(error) => Err(CallError::Unverified {
                hint: claimed(&text, method),
                error,
            }),
        }
    }
}

/// Every parameter of a request except `sign`.
pub fn request_params(
    config: &AlipayConfig,
    method: &str,
    biz_content: &str,
    now: DateTime<Utc>,
) -> BTreeMap<String, String> {
    [
        ("app_id", config.app_id.as_str()),
        ("method", method),
        ("charset", "utf-8"),
        ("sign_type", SIGN_TYPE),
        ("timestamp", &timestamp(now)),
        ("version", "1.0"),
        ("notify_url", &config.notify_url),
        ("biz_content", biz_content),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// `yyyy-MM-dd HH:mm:ss` in Asia/Shanghai (UTC+8 all year), as the gateway expects.
pub fn timestamp(now: DateTime<Utc>) -> String {
    let shanghai = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    now.with_timezone(&shanghai)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn transport(e: reqwest::Error) -> CallError {
    if e.is_timeout() {
        CallError::Timeout
    } else {
        CallError::Transport(e.without_url().to_string())
    }
}

async fn read_capped(mut response: reqwest::Response) -> Result<String, CallError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > BODY_CAP {
            return Err(CallError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| CallError::NotUtf8)
}

/// The code an unverified answer claims, such as ` (unverified: 40002 isv.invalid-signature)`:
/// a bad app key or app id shows up here. Never believed, only shown.
fn claimed(text: &str, method: &str) -> String {
    let Ok(body) = serde_json::from_str::<serde_json::Value>(text) else {
        return String::new();
    };
    let reply = &body[super::sign::response_key(method)];
    let field = |name: &str| -> String {
        reply[name]
            .as_str()
            .map(|v| v.chars().filter(|c| !c.is_control()).take(64).collect())
            .unwrap_or_default()
    };
    let hint: Vec<String> = [field("code"), field("sub_code")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    if hint.is_empty() {
        return String::new();
    }
    format!(" (unverified: {})", hint.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_shanghai_time() {
        let at = DateTime::parse_from_rfc3339("2026-11-22T02:15:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(at), "2026-11-22 10:15:00");
        let late = DateTime::parse_from_rfc3339("2026-12-31T16:00:01Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(late), "2027-01-01 00:00:01");
    }

    #[test]
    fn an_unverified_answer_only_hints_at_its_code() {
        let body = r#"{"alipay_trade_refund_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature"}}"#;
        assert_eq!(
            claimed(body, "alipay.trade.refund"),
            " (unverified: 40002 isv.invalid-signature)"
        );
        assert_eq!(claimed("not json", "alipay.trade.refund"), "");
        assert_eq!(claimed("{}", "alipay.trade.refund"), "");
    }
}
