//! The command line: one subcommand per scenario, and [`run`], which starts the servers a
//! scenario needs and returns its summary.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

use crate::chaos::{self, ChaosOptions};
use crate::client::Api;
use crate::cost::{self, Prices};
use crate::flows::{self, FlowOptions};
use crate::hostile::{self, HostileOptions};
use crate::server::{self, Server, ServerOptions};
use crate::webhooks::{self, WebhookOptions};
use crate::{Summary, idle, model};

#[derive(Parser)]
#[command(name = "countersign-load", about)]
pub struct Cli {
    /// The `countersign` binary to start; the one beside this binary by default.
    #[arg(long, global = true)]
    pub server: Option<PathBuf>,
    /// The server's database: `postgres://…`, or a fresh SQLite file when absent.
    #[arg(long, global = true, env = "COUNTERSIGN_LOAD_DATABASE_URL")]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Understanding {
    /// A scripted OpenAI-compatible model on loopback that answers at once.
    Model,
    /// The built-in offline extractor.
    Offline,
}

#[derive(Subcommand)]
pub enum Scenario {
    /// Complete refunds over WebSocket, from first message to `settled`.
    Flows {
        #[arg(long, default_value_t = 1000)]
        sessions: usize,
        #[arg(long, default_value_t = 200)]
        concurrency: usize,
        #[arg(long, value_enum, default_value = "model")]
        understanding: Understanding,
        /// Open loop: sessions started per second on a fixed schedule (fractions allowed),
        /// never waiting for earlier flows. `--concurrency` then caps the flows in flight: a
        /// start that would exceed it is dropped (counted as `dropped`), not delayed, so the
        /// offered rate stays as asked. Without it, closed loop: `--concurrency` shoppers
        /// run flows back to back.
        #[arg(long, value_parser = parse_rate)]
        rate: Option<f64>,
        /// What the scripted model's endpoint charges per thousand prompt tokens.
        #[arg(long, default_value = "0.0008")]
        price_input_per_1k: String,
        /// What it charges per thousand completion tokens.
        #[arg(long, default_value = "0.002")]
        price_output_per_1k: String,
        /// What one call to the payment provider costs.
        #[arg(long, default_value = "0")]
        price_provider_call: String,
        /// The prices' currency.
        #[arg(long, default_value = "CNY")]
        price_currency: String,
    },
    /// Signed settlement notifications, with duplicates and bad signatures.
    Webhooks {
        #[arg(long, default_value_t = 2000)]
        sessions: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Resent copies, as a share of the valid notifications.
        #[arg(long, default_value_t = 0.2)]
        duplicates: f64,
        /// Badly signed notifications, as a share of the valid ones.
        #[arg(long, default_value_t = 0.1)]
        bad: f64,
    },
    /// Half-sent frames and slowloris connections; reports what they cost the server.
    Hostile {
        /// Sockets in each case: all on one shopper token, then one session each.
        #[arg(long, default_value_t = 300)]
        sockets: usize,
        /// Slow HTTP connections.
        #[arg(long, default_value_t = 300)]
        slow: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// Idle sockets held open; reports the server's resident memory.
    Idle {
        #[arg(long, default_value_t = 10_000)]
        sockets: usize,
        #[arg(long, default_value_t = 200)]
        concurrency: usize,
    },
    /// Whole flows across three instances on one Postgres database while one instance at a
    /// time is SIGKILLed and restarted.
    Chaos {
        #[arg(long, default_value_t = 500)]
        flows: usize,
        #[arg(long, default_value_t = 50)]
        concurrency: usize,
        /// Seeds every random choice of the run; a fresh one when absent (it is printed).
        #[arg(long)]
        seed: Option<u64>,
        /// Milliseconds from one instance being back to the next kill: `MIN-MAX` or one value.
        #[arg(long, default_value = "1000-3000", value_parser = chaos::parse_range)]
        kill_every: (u64, u64),
        #[arg(long, default_value_t = 1000)]
        max_kills: usize,
        /// Longest pause a shopper takes before a message or a confirmation, in ms.
        #[arg(long, default_value_t = 200)]
        think_ms: u64,
        /// Seconds one flow may take.
        #[arg(long, default_value_t = 120)]
        flow_timeout: u64,
        /// Seconds the sessions may take to end after the last flow.
        #[arg(long, default_value_t = 60)]
        drain: u64,
    },
}

impl Scenario {
    /// The name a summary carries as `scenario`.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Flows { .. } => "flows",
            Scenario::Webhooks { .. } => "webhooks",
            Scenario::Idle { .. } => "idle",
            Scenario::Hostile { .. } => "hostile",
            Scenario::Chaos { .. } => "chaos",
        }
    }
}

/// Runs the scenario `cli` names against servers of its own, and returns its summary.
pub async fn run(cli: Cli) -> Result<Summary> {
    let mut opts = ServerOptions {
        binary: cli.server.unwrap_or_else(server::sibling_binary),
        database_url: cli.database_url,
        model_url: None,
        sandbox_delay_ms: 0,
        prices: None,
    };
    match cli.scenario {
        Scenario::Flows {
            sessions,
            concurrency,
            understanding,
            rate,
            price_input_per_1k,
            price_output_per_1k,
            price_provider_call,
            price_currency,
        } => {
            opts.prices = Some(Prices {
                input_per_1k: price_input_per_1k,
                output_per_1k: price_output_per_1k,
                provider_call: price_provider_call,
                currency: price_currency,
            });
            let model = match understanding {
                Understanding::Model => Some(model::start().await),
                Understanding::Offline => None,
            };
            opts.model_url = model.as_ref().map(|m| m.url());
            let label = if model.is_some() { "model" } else { "offline" };
            let flow = FlowOptions {
                sessions,
                concurrency,
                until: "settled",
                rate,
            };
            run_flows(&opts, flow, label).await
        }
        Scenario::Webhooks {
            sessions,
            concurrency,
            duplicates,
            bad,
        } => {
            // The sandbox must not settle anything itself during the run.
            opts.sandbox_delay_ms = 24 * 3600 * 1000;
            let shares = WebhookOptions {
                concurrency,
                duplicate_share: duplicates,
                bad_share: bad,
            };
            run_webhooks(&opts, sessions, shares).await
        }
        Scenario::Hostile {
            sockets,
            slow,
            concurrency,
        } => {
            let mut server = Server::start(&opts).await?;
            let api = Api::new(&server.base, &server.merchant.api_key);
            let opts = HostileOptions {
                sockets,
                slow,
                concurrency,
            };
            hostile::run(&mut server, &api, &opts).await
        }
        Scenario::Idle {
            sockets,
            concurrency,
        } => {
            let mut server = Server::start(&opts).await?;
            let api = Api::new(&server.base, &server.merchant.api_key);
            let report = idle::run(&api, sockets, concurrency, || server.rss_kib()).await?;
            server.check_alive()?;
            Ok(report.summary(server.backend))
        }
        Scenario::Chaos {
            flows,
            concurrency,
            seed,
            kill_every,
            max_kills,
            think_ms,
            flow_timeout,
            drain,
        } => {
            let chaos = ChaosOptions {
                flows,
                concurrency,
                seed: seed.unwrap_or_else(rand::random),
                kill_every_ms: kill_every,
                max_kills,
                think_ms,
                flow_timeout: Duration::from_secs(flow_timeout),
                drain: Duration::from_secs(drain),
            };
            chaos::run(&opts, chaos).await
        }
    }
}

async fn run_flows(opts: &ServerOptions, flow: FlowOptions, label: &str) -> Result<Summary> {
    let mut server = Server::start(opts).await?;
    let api = Api::new(&server.base, &server.merchant.api_key);
    flows::stock(&api, flow.sessions, flow.concurrency).await?;
    let report = flows::run(&api, flow).await;
    server.check_alive()?;
    report_failures(&report.failures);
    let ok = report.failures.is_empty();
    let mut summary = report.summary(server.backend, &flow, label);
    if let Some(prices) = &opts.prices {
        let each = cost::per_flow(&api, &prices.currency, report.ok).await?;
        summary = summary
            .with("cost_per_flow", each)
            .with("cost_currency", &prices.currency);
    }
    Ok(report.mode(&flow, summary.with("ok", ok)))
}

/// A rate of starts per second: a positive, finite number.
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "`{s}` is not a positive number of sessions per second"
        )),
    }
}

async fn run_webhooks(
    opts: &ServerOptions,
    sessions: usize,
    shares: WebhookOptions,
) -> Result<Summary> {
    let mut server = Server::start(opts).await?;
    let api = Api::new(&server.base, &server.merchant.api_key);
    let setup = FlowOptions {
        sessions,
        concurrency: shares.concurrency,
        until: "submitted",
        rate: None,
    };
    flows::stock(&api, sessions, setup.concurrency).await?;
    let ready = flows::run(&api, setup).await;
    report_failures(&ready.failures);
    anyhow::ensure!(
        ready.failures.is_empty(),
        "sessions did not reach `submitted`"
    );
    let m = &server.merchant;
    let report = webhooks::run(
        &api,
        &m.merchant_id,
        &m.webhook_secret,
        &ready.session_ids,
        shares,
    )
    .await?;
    server.check_alive()?;
    Ok(report.summary(server.backend, shares.concurrency))
}

fn report_failures(failures: &[String]) {
    for f in failures.iter().take(5) {
        eprintln!("countersign-load: a flow ended: {f}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_a_positive_number_and_turns_on_the_open_loop() {
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        for bad in ["0", "-3", "NaN", "inf", "fast"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        let cli = Cli::try_parse_from(["countersign-load", "flows", "--rate", "20"]).unwrap();
        let Scenario::Flows { rate, .. } = cli.scenario else {
            panic!("not flows");
        };
        assert_eq!(rate, Some(20.0));
    }
}
