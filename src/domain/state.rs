//! The stored vocabulary of a session: states, modes, channels, end reasons, and what became
//! of a settlement notification.

/// Declares a fieldless enum with a stable snake_case text form, used on the wire and in
/// CHECK-constrained database columns.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use text_enum;

text_enum!(
    /// Where a session is in its life. See `machine` for how it moves.
    SessionState {
        Collecting => "collecting",
        Clarifying => "clarifying",
        AwaitingConfirmation => "awaiting_confirmation",
        PendingRiskCheck => "pending_risk_check",
        ManualReview => "manual_review",
        Submitted => "submitted",
        Settled => "settled",
        Failed => "failed",
        Declined => "declined",
        Cancelled => "cancelled",
        Expired => "expired",
    }
);

impl SessionState {
    /// Terminal states accept no event.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Settled | Self::Failed | Self::Declined | Self::Cancelled | Self::Expired
        )
    }
}

text_enum!(
    /// How the shopper talks to the session: free chat or the deterministic menu.
    Mode {
        Chat => "chat",
        Menu => "menu",
    }
);

text_enum!(
    /// Why a session ended where it did, when that is worth saying.
    EndReason {
        ShopperCancelled => "shopper_cancelled",
        ConfirmationTampered => "confirmation_tampered",
        ConfirmationExpired => "confirmation_expired",
        RiskDeclined => "risk_declined",
        ReviewDeclined => "review_declined",
        SettlementFailed => "settlement_failed",
        /// The shopper withdrew consent while the payment was held for the risk check or
        /// a review; nothing was sent.
        Withdrawn => "withdrawn",
    }
);

text_enum!(
    /// Who caused a transition.
    Actor {
        Shopper => "shopper",
        Merchant => "merchant",
        Operator => "operator",
        System => "system",
        Provider => "provider",
    }
);

text_enum!(
    /// How a client's frame reached the service: a WebSocket, or the menu over plain HTTP.
    Transport {
        Socket => "socket",
        Http => "http",
    }
);

text_enum!(
    /// What became of a verified settlement notification, as its inbox row records it.
    InboxOutcome {
        /// It settled or failed the session it names.
        Applied => "applied",
        /// It names no session of its merchant.
        Orphan => "orphan",
        /// Its session was no longer waiting for it.
        Ignored => "ignored",
        /// It does not match the session's submission.
        Mismatch => "mismatch",
    }
);
