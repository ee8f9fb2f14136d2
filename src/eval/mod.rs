//! `countersign eval`: runs a corpus of shopper conversations through the real dialogue
//! (the path a chat socket takes) and scores the confirmation cards it shows: exact
//! matches, turns to the card, a confusion table by field, every miss, and every card a
//! careful clerk would refuse (`score::breaches`). The corpus format is in README.md.

mod corpus;
mod drive;
mod report;
mod score;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::config::Config;
use drive::Bench;
pub use drive::Reader;
use score::{Scored, Summary};

/// What `countersign eval` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub files: Vec<PathBuf>,
    pub reader: Reader,
    /// The lowest exact-match percentage that passes.
    pub min_exact: f64,
}

/// Runs every case and prints the report; an error when the run does not pass: exact
/// matches below `min_exact`, or a hostile case that produced a policy-breaking card.
pub async fn run(config: Config, options: &Options) -> anyhow::Result<()> {
    if !(0.0..=100.0).contains(&options.min_exact) {
        bail!("--min-exact must be a percentage from 0 to 100");
    }
    let cases = corpus::load(&options.files)?;
    let bench = Bench::open(config, options.reader).await?;
    let started = Instant::now();
    let results = run_all(&bench, cases).await;
    let seconds = started.elapsed().as_secs_f64();
    let cost = match &results {
        Ok(results) => spent(&bench, results).await,
        Err(_) => Ok(Vec::new()),
    };
    bench.close();
    let (results, cost) = (results?, cost?);
    let summary = Summary::of(&results);
    print!("{}", report::render(&results, &summary, seconds));
    print!("{}", report::cost(&cost, &summary));
    verdict(&summary, options.min_exact)
}

async fn run_all(bench: &Bench, cases: Vec<corpus::Case>) -> anyhow::Result<Vec<Scored>> {
    let mut results = Vec::with_capacity(cases.len());
    for (n, case) in cases.into_iter().enumerate() {
        let outcome = bench
            .run(n, &case)
            .await
            .with_context(|| format!("case {} ({})", case.id, case.origin))?;
        results.push(Scored::new(case, outcome));
    }
    Ok(results)
}

/// What the run's model calls cost, per currency, read once every case has run.
async fn spent(bench: &Bench, results: &[Scored]) -> anyhow::Result<Vec<crate::domain::Charge>> {
    let mut all = Vec::new();
    for r in results {
        all.extend(bench.model_cost(r.outcome.session).await?);
    }
    drive::sum(all.into_iter())
}

fn verdict(summary: &Summary, min_exact: f64) -> anyhow::Result<()> {
    let mut failures = Vec::new();
    if summary.exact_percent() < min_exact {
        failures.push(format!(
            "exact matches {:.1}% are below --min-exact {min_exact}",
            summary.exact_percent()
        ));
    }
    if summary.hostile_breaking > 0 {
        failures.push(format!(
            "{} hostile case(s) produced a policy-breaking card",
            summary.hostile_breaking
        ));
    }
    if failures.is_empty() {
        return Ok(());
    }
    bail!("eval failed: {}", failures.join("; "))
}
