//! The load generator: drives a real `countersign serve` over loopback and reports what it
//! measured as one `key=value` summary line per scenario. [`cli`] is the command line the
//! `countersign-load` binary parses and runs; the tests run its scenarios through it too.

pub mod chaos;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod cost;
pub mod flows;
pub mod hostile;
pub mod idle;
pub mod model;
pub mod schedule;
pub mod server;
pub mod stats;
pub mod webhooks;

use std::fmt::Write;

/// A scenario's result: ordered `key=value` fields, printed on one line after `RESULT`.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    fields: Vec<(String, String)>,
}

impl Summary {
    pub fn new(scenario: &str) -> Summary {
        Summary::default().with("scenario", scenario)
    }

    pub fn with(mut self, key: &str, value: impl ToString) -> Summary {
        self.fields.push((key.to_owned(), value.to_string()));
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The line a script parses: `RESULT k=v k=v …`.
    pub fn line(&self) -> String {
        let mut line = String::from("RESULT");
        for (k, v) in &self.fields {
            let _ = write!(line, " {k}={v}");
        }
        line
    }

    /// Parses a line printed by [`Summary::line`].
    pub fn parse(line: &str) -> Option<Summary> {
        let rest = line.strip_prefix("RESULT ")?;
        let fields = rest
            .split_whitespace()
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Summary { fields })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_line_parses_back() {
        let s = Summary::new("flows").with("ok", 3).with("p99_ms", "1.25");
        let back = Summary::parse(&s.line()).unwrap();
        assert_eq!(back.get("scenario"), Some("flows"));
        assert_eq!(back.get("ok"), Some("3"));
        assert_eq!(back.get("p99_ms"), Some("1.25"));
        assert!(Summary::parse("nonsense").is_none());
    }
}
