use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "worker", version, about = "Transcription worker: runs queued jobs, or one file with `transcribe`")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run jobs from the queue (the default).
    Run,
    /// Transcribe one file and print the result to stdout.
    Transcribe(Box<worker::transcribe::TranscribeArgs>),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    match cli.command.unwrap_or(Command::Run) {
        Command::Transcribe(args) => worker::transcribe::run(*args),
        Command::Run => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let settings = worker::config::Settings::load().context("loading configuration")?;
                let worker = worker::Worker::build(settings).await?;
                worker.run(shutdown_signal()).await
            })
        }
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("APP_LOG_JSON").is_ok_and(|v| v == "1") {
        builder.json().init();
    } else {
        builder.init();
    }
}
