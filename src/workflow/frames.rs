//! WebSocket frames (schemas/ws-client.schema.json and ws-server.schema.json).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::confirmation::Payload;
use crate::domain::SessionState;
use crate::domain::draft::{Choice, Field};
use crate::schema;

/// Largest client frame read; anything longer gets an error frame.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    UserMessage {
        text: String,
    },
    Confirm {
        token: String,
    },
    Cancel,
    MenuSelect {
        option_id: String,
        value: Option<String>,
    },
    Resume {
        last_seq: i64,
    },
    Ping,
}

/// A client frame refused before the dialogue reads it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Over the size cap; `closing` when the transport refused it and the socket closes.
    #[error("frames are limited to {MAX_FRAME_BYTES} bytes{}", if *.closing { "; this socket closes" } else { "" })]
    TooLarge { closing: bool },
    #[error("not a JSON frame: {0}")]
    Malformed(String),
    /// Not a frame the client schema allows.
    #[error("{0}")]
    Invalid(String),
    #[error("send JSON text frames")]
    Binary,
    #[error("too many frames; slow down")]
    RateLimited,
    #[error("could not replay; try resume again")]
    ReplayFailed,
}

impl FrameError {
    pub fn code(&self) -> &'static str {
        match self {
            FrameError::TooLarge { .. } => "frame_too_large",
            FrameError::Malformed(_) => "malformed_frame",
            FrameError::Invalid(_) => "invalid_frame",
            FrameError::Binary => "binary_frame",
            FrameError::RateLimited => "rate_limited",
            FrameError::ReplayFailed => "replay_failed",
        }
    }
}

impl From<&FrameError> for ServerFrame {
    fn from(e: &FrameError) -> Self {
        ServerFrame::error(e.code(), e.to_string())
    }
}

impl ClientFrame {
    /// The frame's `type`, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientFrame::UserMessage { .. } => "user_message",
            ClientFrame::Confirm { .. } => "confirm",
            ClientFrame::Cancel => "cancel",
            ClientFrame::MenuSelect { .. } => "menu_select",
            ClientFrame::Resume { .. } => "resume",
            ClientFrame::Ping => "ping",
        }
    }

    /// Parses and validates one text frame against the client schema.
    pub fn parse(text: &str) -> Result<ClientFrame, FrameError> {
        if text.len() > MAX_FRAME_BYTES {
            return Err(FrameError::TooLarge { closing: false });
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| FrameError::Malformed(e.to_string()))?;
        schema::check(&schema::WS_CLIENT, &value).map_err(FrameError::Invalid)?;
        serde_json::from_value(value).map_err(|e| FrameError::Invalid(e.to_string()))
    }
}

/// A frame the server sends. Session frames are stored and numbered; `Error` and `Pong`
/// answer one socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    AgentMessage {
        text: String,
    },
    AgentDelta {
        text: String,
    },
    Clarify {
        field: Field,
        question: String,
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        candidates: Vec<Choice>,
    },
    ConfirmationRequired {
        payload: Box<Payload>,
        token: String,
        expires_at: i64,
    },
    Status {
        state: SessionState,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Menu {
        prompt: String,
        options: Vec<Choice>,
        #[serde(skip_serializing_if = "std::ops::Not::not", default)]
        accepts_value: bool,
    },
    Error {
        code: String,
        message: String,
    },
    Pong,
}

impl ServerFrame {
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("frames serialize")
    }

    pub fn agent(text: impl Into<String>) -> Self {
        ServerFrame::AgentMessage { text: text.into() }
    }

    /// An `error` frame for one socket.
    pub fn error(code: &str, message: String) -> Self {
        ServerFrame::Error {
            code: code.to_owned(),
            message,
        }
    }
}

/// A frame with its per-session number, as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Numbered {
    pub seq: i64,
    pub frame: Value,
}

impl Numbered {
    /// The wire text: the frame's fields plus `seq`.
    pub fn to_text(&self) -> String {
        let mut v = self.frame.clone();
        if let Value::Object(map) = &mut v {
            map.insert("seq".into(), Value::from(self.seq));
        }
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_are_validated_before_they_are_read() {
        assert_eq!(
            ClientFrame::parse(r#"{"type":"ping"}"#),
            Ok(ClientFrame::Ping)
        );
        assert_eq!(
            ClientFrame::parse(r#"{"type":"user_message","text":"退款"}"#),
            Ok(ClientFrame::UserMessage {
                text: "退款".into()
            })
        );
        let code = |t: &str| ClientFrame::parse(t).unwrap_err().code();
        assert_eq!(code("nope"), "malformed_frame");
        assert_eq!(code(r#"{"type":"user_message"}"#), "invalid_frame");
        assert_eq!(
            code(r#"{"type":"user_message","text":""}"#),
            "invalid_frame"
        );
        assert_eq!(
            code(r#"{"type":"confirm","token":"t","extra":1}"#),
            "invalid_frame"
        );
        assert_eq!(code(r#"{"type":"resume","last_seq":-1}"#), "invalid_frame");
        assert_eq!(code(r#"{"type":"launch_missiles"}"#), "invalid_frame");
        let big = format!(
            r#"{{"type":"user_message","text":"{}"}}"#,
            "x".repeat(MAX_FRAME_BYTES)
        );
        assert_eq!(code(&big), "frame_too_large");
    }

    #[test]
    fn server_frames_match_the_schema() {
        let frames = [
            ServerFrame::agent("hi"),
            ServerFrame::AgentDelta { text: "h".into() },
            ServerFrame::Clarify {
                field: Field::Order,
                question: "Which?".into(),
                candidates: vec![Choice::new("1", "One")],
            },
            ServerFrame::Status {
                state: SessionState::Declined,
                reason: None,
            },
            ServerFrame::Menu {
                prompt: "Pick".into(),
                options: vec![Choice::new("a", "A")],
                accepts_value: true,
            },
            ServerFrame::Error {
                code: "x".into(),
                message: "y".into(),
            },
            ServerFrame::Pong,
        ];
        for f in frames {
            let text = Numbered {
                seq: 3,
                frame: f.to_json(),
            }
            .to_text();
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(schema::check(&schema::WS_SERVER, &v), Ok(()), "{text}");
        }
    }
}
