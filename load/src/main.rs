//! `countersign-load`: starts `countersign serve` with a fresh merchant and drives it over
//! loopback. Each scenario prints one `RESULT key=value …` line and exits non-zero when
//! what it checked did not hold.

use std::process::ExitCode;

use clap::Parser;
use countersign_load::Summary;
use countersign_load::cli::{Cli, run};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let scenario = cli.scenario.name();
    match run(cli).await {
        Ok(summary) => {
            println!("{}", summary.line());
            if summary.get("ok") == Some("true") {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("countersign-load: {e:#}");
            // A run that could not finish still ends with its line, for scripts.
            println!("{}", Summary::new(scenario).with("ok", false).line());
            ExitCode::FAILURE
        }
    }
}
