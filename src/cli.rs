//! The command line: `serve` (default), `migrate`, `merchant create`, `merchant rotate-key`,
//! `keys rotate-evidence`, `audit verify`, `eval`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{self, Config};
use crate::domain::{MerchantId, SessionId};
use crate::store::StoreError;
use crate::{app, eval, evidence, merchants, seed, store, telemetry};

#[derive(Parser)]
#[command(name = "countersign", version, about, after_help = config::HELP)]
struct Cli {
    /// A TOML configuration file.
    #[arg(long, global = true, env = "COUNTERSIGN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default). Seeds a `demo` merchant into an empty embedded database.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage merchants.
    #[command(subcommand)]
    Merchant(MerchantCommand),
    /// Manage the service's own keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check the event log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Run a corpus of shopper conversations through the dialogue and score the cards it
    /// shows; fails below --min-exact or when a hostile case gets a policy-breaking card.
    Eval {
        /// JSON Lines files, one conversation a line (README.md, "Evaluation").
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The reader of messages: the offline rules, or the configured model endpoints.
        #[arg(long, value_enum, default_value = "offline")]
        understanding: eval::Reader,
        /// The lowest percentage of cases that must end exactly as expected.
        #[arg(long, default_value_t = 0.0)]
        min_exact: f64,
    },
}

#[derive(Subcommand)]
enum MerchantCommand {
    /// Create a merchant and print its credentials once, as JSON.
    Create {
        /// Lower-case letters, digits, '_' or '-'.
        #[arg(long)]
        id: String,
        /// A JSON policy (schemas/policy.schema.json); the default policy when omitted.
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// Sign the merchant's new confirmations under a new kid; tokens under the previous kid
    /// verify until they expire. Prints {merchant_id, kid, previous_kid, previous_kid_retires_at}.
    RotateKey {
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new Ed25519 key that signs evidence packs from now on; earlier keys stay
    /// published in the JWKS. Prints {kid, created_at}.
    RotateEvidence,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute every session's event hash chain (or one session's) and report any break;
    /// exits non-zero when one is found.
    Verify {
        /// Only this session.
        #[arg(long)]
        session: Option<String>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("countersign: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    // An evaluation opens hundreds of sessions: only warnings, unless RUST_LOG says more.
    let quiet = matches!(cli.command, Some(Command::Eval { .. }));
    telemetry::init_at(config.log_format, if quiet { "warn" } else { "info" });
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(config).await,
            Command::Merchant(MerchantCommand::Create { id, policy }) => {
                create_merchant(config, &id, policy).await
            }
            Command::Merchant(MerchantCommand::RotateKey { id }) => rotate_key(config, &id).await,
            Command::Keys(KeysCommand::RotateEvidence) => rotate_evidence(config).await,
            Command::Audit(AuditCommand::Verify { session }) => {
                verify_audit(config, session.as_deref()).await
            }
            Command::Eval {
                files,
                understanding,
                min_exact,
            } => {
                let options = eval::Options {
                    files,
                    reader: understanding,
                    min_exact,
                };
                eval::run(config, &options).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("countersign: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = app::build(config).await?;
    let state = app.state().clone();
    if state.config.seed_demo && state.config.is_embedded() {
        if let Some(creds) = seed::demo(state.store.as_ref(), &state.keys).await? {
            println!(
                "Seeded the demo merchant `demo`; its API key (shown once): {}",
                creds.expose().api_key
            );
        }
    }
    tracing::info!(addr = %app.addr(), database = state.store.backend(), "listening");
    println!("Countersign is running: {}/", state.config.public_url());
    app.run().await.context("serving")
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let store = store::connect(&config.database_url).await?;
    println!("{} database is up to date", store.backend());
    Ok(())
}

async fn create_merchant(config: Config, id: &str, policy: Option<PathBuf>) -> anyhow::Result<()> {
    let id = MerchantId::parse(id)?;
    // The demo merchant opens sessions without a key; only the seeder may make it.
    anyhow::ensure!(
        id.as_str() != crate::seed::DEMO_MERCHANT,
        "the merchant id `{id}` is reserved for the built-in demo; choose another"
    );
    let doc = match policy {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{} is not JSON", path.display()))?,
            )
        }
        None => None,
    };
    let policy = merchants::validate_policy(doc.as_ref())?;
    let store = store::connect(&config.database_url).await?;
    let keys = app::load_master_key(&config)?;
    let creds = merchants::create(store.as_ref(), &keys, id, policy).await?;
    println!("{}", serde_json::to_string_pretty(creds.expose())?);
    Ok(())
}

async fn rotate_key(config: Config, id: &str) -> anyhow::Result<()> {
    let id = MerchantId::parse(id)?;
    let store = store::connect(&config.database_url).await?;
    let rotated = merchants::rotate_key(store.as_ref(), &id, config.clock.now()).await?;
    println!("{}", serde_json::to_string_pretty(&rotated)?);
    Ok(())
}

async fn rotate_evidence(config: Config) -> anyhow::Result<()> {
    let store = store::connect(&config.database_url).await?;
    let keys = app::load_master_key(&config)?;
    let key = evidence::keys::rotate(store.as_ref(), &keys, config.clock.now()).await?;
    let shown = serde_json::json!({ "kid": key.kid, "created_at": key.created_at });
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(())
}

async fn verify_audit(config: Config, session: Option<&str>) -> anyhow::Result<()> {
    let store = store::connect(&config.database_url).await?;
    let report = match session {
        Some(id) => {
            let id = SessionId::parse(id)?;
            match evidence::audit::session(store.as_ref(), id).await {
                Err(StoreError::NotFound) => anyhow::bail!("no session {id}"),
                done => done?,
            }
        }
        None => evidence::audit::all(store.as_ref()).await?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    anyhow::ensure!(
        report.breaks.is_empty(),
        "the event log is broken in {} session(s)",
        report.breaks.len()
    );
    Ok(())
}
