//! Which Whisper model a run uses: the job's own `model`, else the first model of its preset's
//! preference list that this worker has installed. Each worker chooses for itself, as it does
//! with the preset's devices, so one list serves a GPU machine with large-v3 and a laptop with
//! base alike.

use std::path::Path;

use vocab::Options;

/// The model a run uses when neither the job nor its preset names one (the pipeline's own).
pub const DEFAULT_MODEL: &str = "tiny.en";

/// None of the preset's models is installed on this worker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "none of the preset's models ({}) is installed on this worker; installed: {}",
    wanted.join(", "),
    if installed.is_empty() { "none".to_string() } else { installed.join(", ") }
)]
pub struct NoneInstalled {
    pub wanted: Vec<String>,
    /// The `whisper-NAME` directories of the models directory, by name.
    pub installed: Vec<String>,
}

impl NoneInstalled {
    /// The job's error code: the api's, for a job naming a model nobody has.
    pub const CODE: &'static str = "model_not_installed";
}

/// Sets `options.model` to the model the run uses, found as `pipeline` finds models, and says
/// which and why in a line for the job's log.
pub fn choose(pipeline: &speech::Pipeline, models_dir: &Path, options: &mut Options) -> Result<String, NoneInstalled> {
    let chosen = options
        // The pipeline's own test: a model directory, or a checkpoint file (`.pt`).
        .first_installed(|name| pipeline.model_dir(Some(name)).exists())
        .map_err(|wanted| NoneInstalled { wanted: wanted.to_vec(), installed: installed(models_dir) })?
        .map(str::to_string);
    let line = match (&chosen, &options.model, &options.model_preference) {
        (Some(name), Some(_), _) => format!("model {name}, as the job asks"),
        (Some(name), None, Some(list)) => {
            format!("model {name}: the first installed of the preset's {}", list.join(", "))
        }
        _ => format!("model {DEFAULT_MODEL}, the default"),
    };
    options.model = Some(chosen.unwrap_or_else(|| DEFAULT_MODEL.to_string()));
    Ok(line)
}

/// The names of the `whisper-NAME` directories in `models_dir`, sorted; none when it is missing
/// or unreadable (the message only lists them).
fn installed(models_dir: &Path) -> Vec<String> {
    let installed = vocab::catalog::installed(models_dir).unwrap_or_default();
    installed.into_iter().map(|m| m.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vocab::{JobOptions, Preset};

    fn models(names: &[&str]) -> (tempfile::TempDir, speech::Pipeline) {
        let dir = tempfile::TempDir::new().unwrap();
        for name in names {
            std::fs::create_dir_all(dir.path().join(format!("whisper-{name}"))).unwrap();
        }
        let config = speech::PipelineConfig { models_dir: dir.path().to_path_buf(), ..Default::default() };
        let pipeline = speech::Pipeline::new(config).unwrap();
        (dir, pipeline)
    }

    fn preset(list: &[&str]) -> Preset {
        Preset { model: Some(list.iter().map(|m| m.to_string()).collect()), ..Default::default() }
    }

    #[test]
    fn a_missing_first_choice_falls_to_the_next_installed() {
        let (dir, pipeline) = models(&["tiny.en", "base"]);
        let mut options = Options::merge(&preset(&["large-v3", "medium", "base", "tiny.en"]), &JobOptions::default());
        let line = choose(&pipeline, dir.path(), &mut options).unwrap();
        assert_eq!(options.model.as_deref(), Some("base"));
        assert_eq!(line, "model base: the first installed of the preset's large-v3, medium, base, tiny.en");

        // A checkpoint file the preset names by path counts as installed, as the pipeline loads it.
        let checkpoint = dir.path().join("small.pt");
        std::fs::write(&checkpoint, b"not read here").unwrap();
        let path = checkpoint.to_str().unwrap();
        let mut options = Options::merge(&preset(&["large-v3", path, "base"]), &JobOptions::default());
        choose(&pipeline, dir.path(), &mut options).unwrap();
        assert_eq!(options.model.as_deref(), Some(path));

        let job = JobOptions { model: Some("tiny.en".into()), ..Default::default() };
        let mut options = Options::merge(&preset(&["large-v3", "base"]), &job);
        assert_eq!(choose(&pipeline, dir.path(), &mut options).unwrap(), "model tiny.en, as the job asks");
        assert_eq!(options.model.as_deref(), Some("tiny.en"));

        let mut options = Options::default();
        assert_eq!(choose(&pipeline, dir.path(), &mut options).unwrap(), "model tiny.en, the default");
        assert_eq!(options.model.as_deref(), Some(DEFAULT_MODEL));
    }

    #[test]
    fn none_installed_names_the_list_and_what_is_there_without_paths() {
        let (dir, pipeline) = models(&["tiny.en", "base"]);
        std::fs::write(dir.path().join("whisper-notes.txt"), "not a model").unwrap();
        let mut options = Options::merge(&preset(&["large-v3", "medium"]), &JobOptions::default());
        let err = choose(&pipeline, dir.path(), &mut options).unwrap_err();
        assert_eq!(
            err.to_string(),
            "none of the preset's models (large-v3, medium) is installed on this worker; installed: base, tiny.en"
        );
        assert_eq!(options.model, None);
        let empty = tempfile::TempDir::new().unwrap();
        let err = NoneInstalled { wanted: vec!["base".into()], installed: installed(&empty.path().join("gone")) };
        assert!(err.to_string().ends_with("installed: none"), "{err}");
    }
}
