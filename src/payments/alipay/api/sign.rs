//! Alipay open-platform signatures with sign type `RSA2` (SHA256withRSA, PKCS#1 v1.5).
//!
//! Requests are signed with the app private key ([`AppSigner`]); asynchronous
//! notifications and synchronous gateway responses are checked against the
//! Alipay platform public key ([`PlatformVerifier`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use ring::error::Unspecified;
use ring::rand::SystemRandom;
use ring::signature::{
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

mod der;

/// The only sign type this module speaks.
pub const SIGN_TYPE: &str = "RSA2";

/// Smallest accepted modulus size in bits.
const MIN_KEY_BITS: usize = 2048;

/// Largest accepted modulus size in bits (ring signs with keys up to this size).
const MAX_KEY_BITS: usize = 4096;

/// PEM labels of the private key forms read.
const PRIVATE_LABELS: &[&str] = &["PRIVATE KEY", "RSA PRIVATE KEY"];

/// PEM labels of the public key forms read.
const PUBLIC_LABELS: &[&str] = &["PUBLIC KEY", "RSA PUBLIC KEY"];

/// Longest base64 signature looked at (a 4096-bit signature is 684 characters).
const MAX_SIGNATURE_B64: usize = 1024;

/// Characters left as they are in query values: ASCII letters, digits and `_.-~`.
/// Space becomes `+`; everything else is `%XX` with upper-case hex.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

/// A key that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not an RSA key in any accepted encoding.
    #[error("not an RSA key in PKCS#1 or PKCS#8/SPKI form (PEM or bare base64 DER)")]
    Unrecognised,
    /// The modulus is shorter than 2048 bits.
    #[error("RSA key has {0} bits; RSA2 needs at least 2048")]
    TooSmall(usize),
    /// The modulus is longer than 4096 bits.
    #[error("RSA key has {0} bits; at most 4096 are supported")]
    TooLarge(usize),
    /// The public exponent is not one signatures can be checked with.
    #[error("RSA public exponent {0} is not an odd number from 3 to 2^33-1")]
    BadExponent(u64),
    /// The private key cannot sign, for the reason given.
    #[error(
        "RSA private key refused ({0}); signing keys must be 2048, 3072 or 4096 bits \
         with a public exponent of at least 65537"
    )]
    Refused(String),
}

/// Why a notification or response was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No `sign` field.
    #[error("no sign field")]
    MissingSignature,
    /// No `sign_type` field in a notification.
    #[error("no sign_type field")]
    MissingSignType,
    /// `sign_type` is present but is not `RSA2`.
    #[error("sign_type is not RSA2")]
    WrongSignType,
    /// A notification field appears more than once.
    #[error("field {0:?} appears more than once")]
    DuplicateField(String),
    /// The response object for the called method is not in the body.
    #[error("response has no {0:?} object")]
    MissingResponse(String),
    /// The signature is not valid base64, or does not match the content.
    #[error("signature does not verify")]
    BadSignature,
    /// The input is not shaped as expected.
    #[error("malformed input: {0}")]
    Malformed(String),
}

/// The text that is signed: every parameter except `sign`, without empty values,
/// sorted by key in byte order and joined as `k=v` with `&`. Values are not URL-encoded.
pub fn string_to_sign(params: &BTreeMap<String, String>) -> String {
    join_sorted(signed_pairs(params))
}

/// The parameters that take part in a request signature, in key order.
fn signed_pairs(params: &BTreeMap<String, String>) -> impl Iterator<Item = (&str, &str)> {
    params
        .iter()
        .filter(|(k, v)| k.as_str() != "sign" && !v.is_empty())
        .map(|(k, v)| (k.as_str(), v.as_str()))
}

/// Joins already sorted pairs as `k=v&k=v`.
fn join_sorted<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Form-encodes one query component: space as `+`, unreserved `A-Za-z0-9_.-~` kept.
fn encode_component(s: &str) -> String {
    s.split(' ')
        .map(|part| utf8_percent_encode(part, QUERY_VALUE).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

/// Signs gateway requests with the app private key.
#[derive(Clone)]
pub struct AppSigner {
    key: Arc<RsaKeyPair>,
}

impl fmt::Debug for AppSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppSigner").finish_non_exhaustive()
    }
}

impl AppSigner {
    /// Reads the app private key: PEM `RSA PRIVATE KEY` (PKCS#1), PEM `PRIVATE KEY`
    /// (PKCS#8), or the bare base64 DER body of either.
    ///
    /// The key signs once here, so a key whose parts do not fit together is refused
    /// now rather than at the first request.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let der = decode_der(text.trim(), PRIVATE_LABELS)?;
        let parts = der::private_parts(&der).ok_or(KeyError::Unrecognised)?;
        check_size(parts.modulus_bits)?;
        let key = if der::is_pkcs8(&der) {
            RsaKeyPair::from_pkcs8(&der)
        } else {
            RsaKeyPair::from_der(&der)
        }
        .map_err(|e| KeyError::Refused(e.to_string()))?;
        let signer = Self { key: Arc::new(key) };
        signer
            .try_sign(b"")
            .map_err(|_| KeyError::Refused("InconsistentComponents".into()))?;
        Ok(signer)
    }

    /// The base64 `sign` value for these parameters.
    pub fn sign(&self, params: &BTreeMap<String, String>) -> String {
        self.sign_content(&string_to_sign(params))
    }

    /// The full URL-encoded query: the signed parameters in key order, then `sign`.
    pub fn signed_query(&self, params: &BTreeMap<String, String>) -> String {
        let sign = self.sign(params);
        signed_pairs(params)
            .chain([("sign", sign.as_str())])
            .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Signs the exact UTF-8 bytes of `content`.
    fn sign_content(&self, content: &str) -> String {
        let signature = self
            .try_sign(content.as_bytes())
            .expect("a key that signed when it was loaded signs again");
        STANDARD.encode(signature)
    }

    /// Signs `message` (RSASSA-PKCS1-v1_5, SHA-256). This padding draws no randomness, so
    /// once the key has signed at load the only failure left is a fault while computing.
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, Unspecified> {
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            message,
            &mut signature,
        )?;
        Ok(signature)
    }
}

/// Checks notifications and responses with the Alipay platform public key.
#[derive(Clone, Debug)]
pub struct PlatformVerifier {
    /// The PKCS#1 `RSAPublicKey` DER.
    key: UnparsedPublicKey<Vec<u8>>,
}

impl PlatformVerifier {
    /// Reads the Alipay public key: PEM `PUBLIC KEY` (SPKI), PEM `RSA PUBLIC KEY`
    /// (PKCS#1), or the bare base64 DER body of either.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let der = decode_der(text.trim(), PUBLIC_LABELS)?;
        let (key, parts) = der::rsa_public_key(&der).ok_or(KeyError::Unrecognised)?;
        check_size(parts.modulus_bits)?;
        check_exponent(parts.exponent)?;
        Ok(Self {
            key: UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.to_vec()),
        })
    }

    /// Verifies an asynchronous notification given as decoded form fields.
    ///
    /// `sign_type` must be `RSA2`. Every other field except `sign`, empty ones
    /// included, is signed, sorted by key.
    pub fn verify_notify(&self, form: &[(String, String)]) -> Result<(), VerifyError> {
        let mut fields = BTreeMap::new();
        for (k, v) in form {
            if fields.insert(k.as_str(), v.as_str()).is_some() {
                return Err(VerifyError::DuplicateField(clip(k)));
            }
        }
        match fields.remove("sign_type") {
            None => return Err(VerifyError::MissingSignType),
            Some(t) if t != SIGN_TYPE => return Err(VerifyError::WrongSignType),
            Some(_) => {}
        }
        let sign = fields.remove("sign").ok_or(VerifyError::MissingSignature)?;
        self.verify_content(&join_sorted(fields.into_iter()), sign)
    }

    /// Verifies a synchronous gateway response and returns the exact text of its
    /// `<method>_response` object (dots in `method` become underscores).
    ///
    /// The signed content is that object byte for byte as received; the signature
    /// is the top-level `sign` field.
    pub fn verify_sync_response<'a>(
        &self,
        raw_body: &'a str,
        method: &str,
    ) -> Result<&'a str, VerifyError> {
        let mut top = parse_top_level(raw_body)?;
        let name = response_key(method);
        let content = top
            .remove(name.as_str())
            .ok_or(VerifyError::MissingResponse(name))?
            .get();
        if !content.starts_with('{') {
            return Err(VerifyError::Malformed("response is not an object".into()));
        }
        let sign_raw = top.remove("sign").ok_or(VerifyError::MissingSignature)?;
        let sign: String = serde_json::from_str(sign_raw.get())
            .map_err(|_| VerifyError::Malformed("sign is not a string".into()))?;
        self.verify_content(content, &sign)?;
        Ok(content)
    }

    /// Checks a base64 signature over the exact UTF-8 bytes of `content`.
    fn verify_content(&self, content: &str, sign_b64: &str) -> Result<(), VerifyError> {
        if sign_b64.len() > MAX_SIGNATURE_B64 {
            return Err(VerifyError::BadSignature);
        }
        let bytes = STANDARD
            .decode(sign_b64)
            .map_err(|_| VerifyError::BadSignature)?;
        self.key
            .verify(content.as_bytes(), &bytes)
            .map_err(|_| VerifyError::BadSignature)
    }
}

/// The top-level key holding the response object for `method`,
/// e.g. `alipay_trade_refund_response` for `alipay.trade.refund`.
pub fn response_key(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// Parses a JSON object body into its top-level members, each value kept as the
/// exact text it was received as. Duplicate keys are rejected.
fn parse_top_level(body: &str) -> Result<BTreeMap<String, &RawValue>, VerifyError> {
    let mut de = serde_json::Deserializer::from_str(body);
    (&mut de)
        .deserialize_map(TopLevel)
        .and_then(|members| de.end().map(|()| members))
        .map_err(|e| {
            VerifyError::Malformed(format!(
                "response body is not one JSON object ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })
}

/// Collects an object's members as raw values, refusing duplicate keys.
struct TopLevel;

impl<'de> Visitor<'de> for TopLevel {
    type Value = BTreeMap<String, &'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let value: &'de RawValue = map.next_value()?;
            if members.insert(key, value).is_some() {
                return Err(de::Error::custom("duplicate top-level key"));
            }
        }
        Ok(members)
    }
}

/// The DER of a key given as PEM with one of `labels`, or as bare base64.
fn decode_der(text: &str, labels: &[&str]) -> Result<Vec<u8>, KeyError> {
    match text.strip_prefix("-----BEGIN ") {
        Some(pem) => decode_bare(pem_contents(pem, labels)?),
        None => decode_bare(text),
    }
}

/// The base64 between a PEM document's header and footer; `pem` starts at the label.
fn pem_contents<'a>(pem: &'a str, labels: &[&str]) -> Result<&'a str, KeyError> {
    let (label, rest) = pem.split_once("-----").ok_or(KeyError::Unrecognised)?;
    if !labels.contains(&label) {
        return Err(KeyError::Unrecognised);
    }
    let (body, after) = rest
        .split_once(&format!("-----END {label}-----"))
        .ok_or(KeyError::Unrecognised)?;
    if !after.trim().is_empty() {
        return Err(KeyError::Unrecognised);
    }
    Ok(body)
}

/// Decodes a bare base64 key body, ignoring line breaks and other whitespace.
fn decode_bare(text: &str) -> Result<Vec<u8>, KeyError> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(compact).map_err(|_| KeyError::Unrecognised)
}

fn check_size(modulus_bits: usize) -> Result<(), KeyError> {
    if modulus_bits < MIN_KEY_BITS {
        return Err(KeyError::TooSmall(modulus_bits));
    }
    if modulus_bits > MAX_KEY_BITS {
        return Err(KeyError::TooLarge(modulus_bits));
    }
    Ok(())
}

/// A public exponent ring verifies with: odd, at least 3, at most 33 bits.
fn check_exponent(exponent: u64) -> Result<(), KeyError> {
    if exponent < 3 || exponent % 2 == 0 || exponent >= 1 << 33 {
        return Err(KeyError::BadExponent(exponent));
    }
    Ok(())
}

/// Shortens untrusted text kept in an error to at most 64 bytes.
fn clip(s: &str) -> String {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests;
