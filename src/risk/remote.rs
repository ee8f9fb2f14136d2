//! An optional remote scorer: JSON in, `{score, codes}` out, within a timeout. When it
//! fails or is slow the session goes to a human, never straight through.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::rules::LocalRules;
use super::{Assessment, RiskEngine, RiskInput};

#[derive(Debug, Clone, Deserialize)]
pub struct RemoteConfig {
    pub url: String,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn default_timeout() -> u64 {
    800
}

pub struct RemoteScorer {
    url: String,
    timeout: Duration,
    http: reqwest::Client,
}

#[derive(Serialize)]
struct Request<'a> {
    #[serde(flatten)]
    input: &'a RiskInput,
    local: &'a Assessment,
}

#[derive(Deserialize)]
struct Answer {
    score: f64,
    #[serde(default)]
    codes: Vec<String>,
}

impl RemoteScorer {
    pub fn new(config: &RemoteConfig) -> Self {
        RemoteScorer {
            url: config.url.clone(),
            timeout: Duration::from_millis(config.timeout_ms),
            http: crate::http_client::client(),
        }
    }

    async fn ask(&self, input: &RiskInput, local: &Assessment) -> anyhow::Result<Answer> {
        // One deadline for the whole exchange: sending, the status and the body.
        let call = async {
            self.http
                .post(&self.url)
                .json(&Request { input, local })
                .send()
                .await?
                .error_for_status()?
                .json::<Answer>()
                .await
        };
        let answer = tokio::time::timeout(self.timeout, call).await??;
        anyhow::ensure!(
            answer.score.is_finite() && (0.0..=1.0).contains(&answer.score),
            "score out of range"
        );
        Ok(answer)
    }
}

#[async_trait]
impl RiskEngine for RemoteScorer {
    async fn assess(&self, input: &RiskInput) -> Assessment {
        let local = LocalRules.assess(input).await;
        match self.ask(input, &local).await {
            Ok(answer) => {
                let mut codes = local.codes;
                codes.extend(
                    answer
                        .codes
                        .into_iter()
                        .take(20)
                        .map(|c| c.chars().take(64).collect()),
                );
                Assessment {
                    score: local.score.max(answer.score),
                    codes,
                    source: "local+remote",
                }
            }
            Err(e) => {
                tracing::warn!(
                    session_id = %input.session_id,
                    error = %e,
                    "remote risk scorer unavailable; sending to review"
                );
                let risk = input.policy.risk;
                let score = if local.score >= risk.decline_at {
                    local.score
                } else {
                    local.score.max(risk.review_at)
                };
                let mut codes = local.codes;
                codes.push("remote_scorer_unavailable".into());
                Assessment {
                    score,
                    codes,
                    source: "local",
                }
            }
        }
    }
}
