//! Provider details a merchant keeps on its book: the Alipay account a contact is paid to.

use serde::{Deserialize, Serialize};

/// How an Alipay account is named in `payee_info.identity_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlipayIdentityType {
    /// The 16-digit user id starting with 2088.
    #[serde(rename = "ALIPAY_USER_ID")]
    UserId,
    /// The login: an e-mail address or phone number. Alipay also needs the real name.
    #[serde(rename = "ALIPAY_LOGON_ID")]
    LogonId,
    /// The user's open id under this app.
    #[serde(rename = "ALIPAY_OPEN_ID")]
    OpenId,
}

impl AlipayIdentityType {
    pub fn as_str(self) -> &'static str {
        match self {
            AlipayIdentityType::UserId => "ALIPAY_USER_ID",
            AlipayIdentityType::LogonId => "ALIPAY_LOGON_ID",
            AlipayIdentityType::OpenId => "ALIPAY_OPEN_ID",
        }
    }
}

/// The Alipay account a transfer to a contact goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PayeeFields")]
pub struct AlipayPayee {
    identity: String,
    identity_type: AlipayIdentityType,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayeeFields {
    identity: String,
    identity_type: AlipayIdentityType,
    #[serde(default)]
    name: Option<String>,
}

const MAX_IDENTITY: usize = 100;
const MAX_NAME: usize = 100;

impl TryFrom<PayeeFields> for AlipayPayee {
    type Error = String;

    fn try_from(f: PayeeFields) -> Result<Self, String> {
        AlipayPayee::parse(&f.identity, f.identity_type, f.name.as_deref())
    }
}

impl AlipayPayee {
    /// Checks the account as Alipay will: a user id is 2088 and 12 more digits; a login
    /// needs the holder's real name.
    pub fn parse(
        identity: &str,
        identity_type: AlipayIdentityType,
        name: Option<&str>,
    ) -> Result<Self, String> {
        let identity = identity.trim();
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        if identity.is_empty() || identity.len() > MAX_IDENTITY {
            return Err(format!("identity: 1-{MAX_IDENTITY} characters"));
        }
        if identity.chars().any(char::is_control) {
            return Err("identity: no control characters".into());
        }
        let user_id = identity.len() == 16
            && identity.starts_with("2088")
            && identity.bytes().all(|b| b.is_ascii_digit());
        if identity_type == AlipayIdentityType::UserId && !user_id {
            return Err("identity: an ALIPAY_USER_ID is 16 digits starting with 2088".into());
        }
        if identity_type == AlipayIdentityType::LogonId && name.is_none() {
            return Err("name: an ALIPAY_LOGON_ID needs the account holder's real name".into());
        }
        if name.is_some_and(|n| n.chars().count() > MAX_NAME || n.chars().any(char::is_control)) {
            return Err(format!(
                "name: at most {MAX_NAME} characters, no control characters"
            ));
        }
        Ok(AlipayPayee {
            identity: identity.to_owned(),
            identity_type,
            name: name.map(str::to_owned),
        })
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn identity_type(&self) -> AlipayIdentityType {
        self.identity_type
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accounts_are_checked_as_alipay_checks_them() {
        let user = AlipayPayee::parse("2088000000000003", AlipayIdentityType::UserId, None);
        assert_eq!(user.unwrap().identity(), "2088000000000003");
        assert!(AlipayPayee::parse("1234", AlipayIdentityType::UserId, None).is_err());
        assert!(AlipayPayee::parse("mum@example.com", AlipayIdentityType::LogonId, None).is_err());
        assert!(
            AlipayPayee::parse("mum@example.com", AlipayIdentityType::LogonId, Some("王芳"))
                .is_ok()
        );
        assert!(AlipayPayee::parse(" ", AlipayIdentityType::OpenId, None).is_err());
    }

    #[test]
    fn json_round_trips_and_refuses_unknown_fields() {
        let body = json!({"identity": "2088000000000003", "identity_type": "ALIPAY_USER_ID"});
        let payee: AlipayPayee = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(serde_json::to_value(&payee).unwrap(), body);
        let extra = json!({"identity": "x", "identity_type": "ALIPAY_OPEN_ID", "bank": "y"});
        assert!(serde_json::from_value::<AlipayPayee>(extra).is_err());
        let bad = json!({"identity": "1", "identity_type": "ALIPAY_USER_ID"});
        let err = serde_json::from_value::<AlipayPayee>(bad).unwrap_err();
        assert!(err.to_string().contains("2088"), "{err}");
    }
}
