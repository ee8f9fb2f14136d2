//! Request bodies: JSON only, size-capped, unknown fields refused, and every error naming
//! the field it is about.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::AppError;

/// The raw bytes of a JSON body (content type checked, size capped by the body limit).
pub struct RawJson(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawJson {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(AppError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the body is too large",
                )
            } else {
                AppError::bad_request("unreadable_body", "the body could not be read")
            }
        })?;
        Ok(RawJson(bytes))
    }
}

/// A parsed JSON body.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let RawJson(bytes) = RawJson::from_request(req, state).await?;
        parse(&bytes).map(JsonBody)
    }
}

/// Parses `bytes` as `T`: broken JSON is 400 `malformed_json`; JSON that does not fit `T`
/// is 422 `validation_failed` with the path of the offending field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            AppError::bad_request(
                "malformed_json",
                format!("the body is not valid JSON: {inner}"),
            )
        } else if path == "." {
            AppError::invalid(inner.to_string())
        } else {
            AppError::invalid(format!("{path}: {inner}"))
        }
    })?;
    de.end().map_err(|_| {
        AppError::bad_request("malformed_json", "trailing characters after the JSON body")
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        amount: crate::domain::Money,
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse::<Body>(br#"{"amount":{"value":"-1","currency":"CNY"}}"#).unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        );
        assert!(e.message.starts_with("amount"), "{}", e.message);
        let e = parse::<Body>(br#"{"amount":{"value":"1","currency":"CNY"},"x":1}"#).unwrap_err();
        assert!(e.message.contains("unknown field `x`"), "{}", e.message);
        let e = parse::<Body>(br#"{"amount":"#).unwrap_err();
        assert_eq!(e.code, "malformed_json");
        let e = parse::<Body>(br#"{"amount":{"value":"1","currency":"CNY"}} x"#).unwrap_err();
        assert_eq!(e.code, "malformed_json");
    }
}
