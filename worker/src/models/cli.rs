//! `worker models ...`: the command line over [`super::pull`], [`super::list`] and
//! [`super::remove`].

use std::path::PathBuf;

use anyhow::Context;
use indicatif::HumanBytes;
use vocab::catalog::CATALOG;

use crate::config::Settings;

#[derive(Debug, clap::Args)]
pub struct ModelsArgs {
    /// Directory holding the installed models (default: the configuration's worker.models_dir).
    #[arg(long, global = true)]
    pub models_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {
    /// Download a model from the Hugging Face hub (HF_ENDPOINT, HF_TOKEN, cache in HF_HOME) and
    /// install it as whisper-NAME.
    Pull {
        /// A name `list` shows (tiny.en, large-v3-turbo, ...) or a hub repository, owner/repo
        /// (installed as owner--repo).
        name: String,
        /// Branch, tag or commit (default: main).
        #[arg(long)]
        revision: Option<String>,
        /// Succeed without downloading when the model is already installed (for start-up
        /// scripts such as the worker image's `MODELS`); without it, an installed model is an error.
        #[arg(long)]
        if_missing: bool,
    },
    /// List the installed models and the names `pull` knows.
    List,
    /// Delete an installed model.
    Remove {
        /// The installed name (as `list` shows it), or the name it was pulled as.
        name: String,
    },
}

pub fn run(args: ModelsArgs) -> anyhow::Result<()> {
    let models_dir =
        match args.models_dir {
            Some(dir) => dir,
            None => Settings::load()
                .context(
                    "loading configuration (config/ in the current directory, or APP_CONFIG_DIR) for worker.models_dir",
                )?
                .worker
                .models_dir,
        };
    match args.command {
        ModelsCommand::Pull { name, if_missing: true, .. } if super::installed_dir(&name, &models_dir)?.is_some() => {
            println!("{name} is already installed");
        }
        ModelsCommand::Pull { name, revision, .. } => {
            // One thread polls hf-hub's chunk downloads in the order it spawns them, so the
            // completed prefix it records for resuming grows chunk by chunk.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let dir = runtime
                .block_on(super::pull(&name, revision.as_deref(), &models_dir))
                .with_context(|| format!("pulling {name}"))?;
            let installed = dir.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix("whisper-"));
            println!("installed {} (use it as --model {})", dir.display(), installed.unwrap_or(&name));
        }
        ModelsCommand::List => print_list(&models_dir)?,
        ModelsCommand::Remove { name } => {
            let dir = super::remove(&models_dir, &name).with_context(|| format!("removing {name}"))?;
            println!("removed {}", dir.display());
        }
    }
    Ok(())
}

fn print_list(models_dir: &std::path::Path) -> anyhow::Result<()> {
    let installed = super::list(models_dir).with_context(|| format!("listing {}", models_dir.display()))?;
    println!("Installed in {}:", models_dir.display());
    if installed.is_empty() {
        println!("  (none)");
    }
    for model in &installed {
        println!("  {:<40} {:>10}  {}", model.name, HumanBytes(model.size).to_string(), model.format.as_str());
    }
    println!("\n`worker models pull NAME` knows (or any owner/repo on the Hugging Face hub):");
    for model in CATALOG {
        let mark = if installed.iter().any(|m| m.name == model.name) { "installed" } else { "" };
        let line = format!("  {:<16} {:<46} {mark}", model.name, model.repo);
        println!("{}", line.trim_end());
    }
    Ok(())
}
