use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use jobs::store::Drain;
use tracing_subscriber::EnvFilter;
use worker::Exit;

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
    /// Pull Whisper models from the Hugging Face hub, list or remove installed ones.
    Models(worker::models::cli::ModelsArgs),
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    init_tracing();
    match cli.command.unwrap_or(Command::Run) {
        Command::Transcribe(args) => worker::transcribe::run(*args).map(|()| ExitCode::SUCCESS),
        Command::Models(args) => worker::models::cli::run(args).map(|()| ExitCode::SUCCESS),
        Command::Run => {
            let runtime = tokio::runtime::Runtime::new()?;
            let exit = runtime.block_on(async {
                let settings = worker::config::Settings::load().context("loading configuration")?;
                let worker = worker::Worker::build(settings).await?;
                worker.run(shutdown_signal()).await
            })?;
            // A restart is the supervisor's to do: this status asks for it.
            Ok(match exit {
                Exit::Drained(Drain::Restart) => ExitCode::from(Drain::RESTART_EXIT_CODE),
                Exit::Stopped | Exit::Drained(Drain::Exit) => ExitCode::SUCCESS,
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
