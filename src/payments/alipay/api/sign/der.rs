//! Just enough DER to find an RSA key's public half: the PKCS#1 `RSAPublicKey` inside a
//! SubjectPublicKeyInfo, and the modulus and exponent of public and private keys.

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const NULL: &[u8] = &[0x05, 0x00];

/// The `rsaEncryption` object identifier, 1.2.840.113549.1.1.1.
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// What a key says about itself in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// Size of the modulus in bits.
    pub modulus_bits: usize,
    /// The public exponent.
    pub exponent: u64,
}

/// The PKCS#1 `RSAPublicKey` in `der`, which is either that already or an rsaEncryption
/// SubjectPublicKeyInfo wrapping it, with its parts.
pub fn rsa_public_key(der: &[u8]) -> Option<(&[u8], Parts)> {
    if let Some(parts) = public_parts(der) {
        return Some((der, parts));
    }
    let spki = only(der, SEQUENCE)?;
    let (algorithm, rest) = take(spki, SEQUENCE)?;
    let (oid, params) = take(algorithm, OID)?;
    if oid != RSA_ENCRYPTION || !(params.is_empty() || params == NULL) {
        return None;
    }
    let key = only(rest, BIT_STRING)?.strip_prefix(&[0])?;
    public_parts(key).map(|parts| (key, parts))
}

/// Whether `der` is a PKCS#8 `PrivateKeyInfo` for an RSA key.
pub fn is_pkcs8(der: &[u8]) -> bool {
    pkcs8_private_key(der).is_some()
}

/// Modulus size and exponent of a PKCS#1 `RSAPublicKey`: SEQUENCE { n, e }.
fn public_parts(pkcs1: &[u8]) -> Option<Parts> {
    let key = only(pkcs1, SEQUENCE)?;
    let (n, rest) = take(key, INTEGER)?;
    parts(n, only(rest, INTEGER)?)
}

/// Modulus size and exponent of a private key: a PKCS#1 `RSAPrivateKey`
/// (SEQUENCE { version, n, e, … }) or a PKCS#8 `PrivateKeyInfo` holding one.
pub fn private_parts(der: &[u8]) -> Option<Parts> {
    let key = pkcs8_private_key(der).unwrap_or(der);
    let (key, _) = take(key, SEQUENCE)?;
    let (_version, rest) = take(key, INTEGER)?;
    let (n, rest) = take(rest, INTEGER)?;
    let (e, _) = take(rest, INTEGER)?;
    parts(n, e)
}

/// The private key octets of a PKCS#8 `PrivateKeyInfo` for rsaEncryption.
fn pkcs8_private_key(der: &[u8]) -> Option<&[u8]> {
    let (info, _) = take(der, SEQUENCE)?;
    let (_version, rest) = take(info, INTEGER)?;
    let (algorithm, rest) = take(rest, SEQUENCE)?;
    let (oid, _) = take(algorithm, OID)?;
    if oid != RSA_ENCRYPTION {
        return None;
    }
    take(rest, OCTET_STRING).map(|(key, _)| key)
}

fn parts(n: &[u8], e: &[u8]) -> Option<Parts> {
    let n = unsigned(n)?;
    let e = unsigned(e).filter(|e| e.len() <= 8)?;
    Some(Parts {
        modulus_bits: n.len() * 8 - n[0].leading_zeros() as usize,
        exponent: e.iter().fold(0, |acc, &b| acc << 8 | u64::from(b)),
    })
}

/// The big-endian magnitude of a positive INTEGER's contents, without the leading zero.
fn unsigned(int: &[u8]) -> Option<&[u8]> {
    match int {
        [0, rest @ ..] if rest.first().is_some_and(|b| b & 0x80 != 0) => Some(rest),
        [1..=0x7f, ..] => Some(int),
        _ => None,
    }
}

/// Splits an element tagged `tag` off the front of `input`: its contents, and what follows.
fn take(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = input.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    // Definite lengths in their shortest form, up to 64 KiB.
    let (len, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        0x81 => {
            let (&len, rest) = rest.split_first()?;
            (len >= 0x80).then_some((usize::from(len), rest))?
        }
        0x82 => {
            let (len, rest) = rest.split_first_chunk::<2>()?;
            let len = usize::from(u16::from_be_bytes(*len));
            (len >= 0x100).then_some((len, rest))?
        }
        _ => return None,
    };
    (len <= rest.len()).then(|| rest.split_at(len))
}

/// The contents of `input`, which must be exactly one element tagged `tag`.
fn only(input: &[u8], tag: u8) -> Option<&[u8]> {
    let (contents, rest) = take(input, tag)?;
    rest.is_empty().then_some(contents)
}
