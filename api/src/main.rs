use anyhow::Context;
use api::{startup::Application, telemetry};
use clap::{Parser, Subcommand};

/// The transcription service's HTTP API.
#[derive(Parser)]
#[command(name = "api", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Print the OpenAPI document as JSON.
    Openapi,
    /// Manage API keys (in the configured PostgreSQL database).
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it. It is shown this once: only its hash is stored.
    Create {
        /// A name to recognise the key by (who or what uses it).
        #[arg(long)]
        name: String,
        /// The key sees every job, reads `GET /v1/workers` and may change runtime configuration.
        #[arg(long)]
        admin: bool,
        /// At most this many of the key's jobs may be queued at once (further submissions get 429).
        #[arg(long, value_name = "N")]
        max_queued: Option<u32>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key at once; its jobs stay, visible to admin keys.
    Revoke {
        /// The key's id, as `keys list` shows it.
        id: uuid::Uuid,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Some(Command::Openapi) => {
            print!("{}", api::openapi::spec_json());
            Ok(())
        }
        Some(Command::Keys(command)) => actix_web::rt::System::new().block_on(keys(command)),
        Some(Command::Serve) | None => actix_web::rt::System::new().block_on(serve()),
    }
}

async fn serve() -> anyhow::Result<()> {
    telemetry::init();
    let settings = api::config::Settings::load().context("loading configuration")?;
    let app = Application::build(settings).await?;
    app.run_until_stopped().await.context("serving HTTP")
}

async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    let settings = api::config::Settings::load().context("loading configuration")?;
    let store = jobs::JobStore::connect(&settings.database.url, 2).await.context("connecting to PostgreSQL")?;
    match command {
        KeysCommand::Create { name, admin, max_queued } => {
            let max_queued = max_queued.map(i32::try_from).transpose().context("--max-queued is too large")?;
            let (key, token) = api::auth::create_key(&store, &name, admin, max_queued).await?;
            eprintln!(
                "created API key {} ({:?}{}{}); it is shown only now, store it:",
                key.id,
                key.name,
                if key.admin { ", admin" } else { "" },
                key.max_queued.map(|n| format!(", at most {n} queued")).unwrap_or_default(),
            );
            println!("{token}");
            if let Some(secret) = store.webhook_secret(key.id).await? {
                eprintln!("webhooks of this key's jobs are signed with: {secret}");
            }
        }
        KeysCommand::List => {
            println!(
                "{:<36}  {:<12}  {:<5}  {:<10}  {:<20}  {:<8}  NAME",
                "ID", "PREFIX", "ADMIN", "MAX_QUEUED", "CREATED", "STATUS"
            );
            for key in store.list_keys().await? {
                println!(
                    "{:<36}  {:<12}  {:<5}  {:<10}  {:<20}  {:<8}  {}",
                    key.id,
                    key.prefix,
                    key.admin,
                    key.max_queued.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
                    key.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                    if key.revoked_at.is_some() { "revoked" } else { "active" },
                    key.name,
                );
            }
        }
        KeysCommand::Revoke { id } => match store.revoke_key(id).await? {
            Some(key) => eprintln!("revoked API key {} ({:?})", key.id, key.name),
            None => anyhow::bail!("no API key with id {id}"),
        },
    }
    Ok(())
}
