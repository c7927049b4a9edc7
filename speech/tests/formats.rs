//! Every common Whisper weight format loads and transcribes jfk.flac: the installed tiny.en
//! (CTranslate2 float16) rewritten by scripts/format-fixtures.sh as an openai-whisper `.pt`, a
//! transformers directory (safetensors) and CTranslate2 float32, int8, int8_float16 and
//! int8_float32 conversions of it (made with ct2-transformers-converter from PyPI).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use speech::whisper::{DecodingOptions, Whisper};
use speech::{Observer, Pipeline, PipelineConfig, Stage};
use vocab::Options;

const JFK: &str =
    "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";

/// The fixtures folder, made (or found current) once per test run by the repository's script.
fn formats() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        testkit::model("whisper-tiny.en/model.bin");
        let out = testkit::repo_root().join("var/formats");
        let status = Command::new(testkit::repo_root().join("scripts/format-fixtures.sh"))
            .arg(&out)
            .env("MODELS_DIR", testkit::models_dir())
            .status()
            .expect("running scripts/format-fixtures.sh");
        assert!(status.success(), "scripts/format-fixtures.sh failed: {status}");
        out
    })
}

fn normalize(s: &str) -> String {
    let s: String = s.to_lowercase().chars().map(|c| if c.is_alphanumeric() || c == '\'' { c } else { ' ' }).collect();
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Greedy decoding of jfk.flac in one window: the text and the first segment's avg_logprob.
fn transcribe(model: &Whisper) -> (String, f64) {
    let audio = speech::audio::decode_file(&testkit::fixture("jfk.flac")).unwrap();
    let enc = model.encode(&model.features(&[&audio]));
    let opts = DecodingOptions { beam_size: 1, ..Default::default() };
    let out = model.decode_windows(&enc, &[audio.len() as f64 / 16000.0], &[], "en", &opts, &|| false).unwrap();
    let segs = &out[0].segments;
    let text: Vec<&str> = segs.iter().map(|s| s.text.trim()).collect();
    (text.join(" "), segs[0].avg_logprob)
}

/// Loads `path` as the pipeline does: a checkpoint's tokenizer may come from the models folder.
fn load(path: &Path) -> Whisper {
    Whisper::load_with(path, tch::Device::Cpu, speech::whisper::Precision::FLOAT32, &[&testkit::models_dir()])
        .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

/// Loads `path`, transcribes, and checks the words; returns the first segment's avg_logprob.
fn check_jfk(path: &Path) -> f64 {
    check_model(&load(path), path)
}

fn check_model(model: &Whisper, path: &Path) -> f64 {
    assert!(!model.config.is_multilingual() && model.config.n_text_layer == 4, "{:?}", model.config);
    let (text, logprob) = transcribe(model);
    assert_eq!(normalize(&text), normalize(JFK), "{}: got {text:?}", path.display());
    logprob
}

fn original_logprob() -> f64 {
    transcribe(&load(&testkit::model("whisper-tiny.en"))).1
}

#[test]
fn openai_checkpoint_transcribes_like_the_original() {
    let pt = formats().join("openai/tiny.en.pt");
    // The file and the folder holding it both load; the tokenizer is the installed tiny.en's.
    let lp = check_jfk(&pt);
    check_jfk(pt.parent().unwrap());
    // Same float16 weights as the original: the same scores.
    assert!((lp - original_logprob()).abs() < 1e-3, "{lp}");
}

#[test]
fn transformers_directory_transcribes_like_the_original() {
    let lp = check_jfk(&formats().join("transformers"));
    assert!((lp - original_logprob()).abs() < 1e-3, "{lp}");
}

#[test]
fn ctranslate2_float32_transcribes_like_the_original() {
    let lp = check_jfk(&formats().join("ct2-float32"));
    assert!((lp - original_logprob()).abs() < 1e-3, "{lp}");
}

/// Quantised weights (int8 with a scale per output row) change the scores a little, not the words.
#[test]
fn ctranslate2_int8_variants_transcribe_jfk() {
    let original = original_logprob();
    for q in ["int8", "int8_float16", "int8_float32"] {
        let lp = check_jfk(&formats().join(format!("ct2-{q}")));
        assert!((lp - original).abs() < 0.1, "{q}: avg_logprob {lp} vs {original}");
    }
}

/// A checkpoint has no tokenizer: one of the same vocabulary must be found, or loading says so.
#[test]
fn checkpoint_tokenizer_comes_from_a_model_of_the_same_vocabulary() {
    let pt = formats().join("openai/tiny.en.pt");
    let root = tempfile::tempdir().unwrap();
    let own = root.path().join("mine");
    std::fs::create_dir(&own).unwrap();
    std::os::unix::fs::symlink(&pt, own.join("tiny.en.pt")).unwrap();
    let refused = |why: &str| {
        let e = Whisper::load(&own, tch::Device::Cpu).err().unwrap_or_else(|| panic!("loaded {why}"));
        assert_eq!(e.code(), "model_invalid", "{e}");
        assert!(e.to_string().contains("tokenizer.json") && e.to_string().contains("English-only"), "{e}");
    };
    refused("without any tokenizer");
    // A multilingual model's tokenizer does not fit an English-only checkpoint.
    std::os::unix::fs::symlink(testkit::model("whisper-base"), root.path().join("whisper-base")).unwrap();
    refused("with a multilingual tokenizer");
    std::os::unix::fs::symlink(testkit::model("whisper-tiny.en"), root.path().join("whisper-tiny.en")).unwrap();
    check_model(&Whisper::load(&own, tch::Device::Cpu).unwrap(), &own);
}

struct Quiet;

impl Observer for Quiet {
    fn progress(&self, _stage: Stage, _fraction: f64) {}
    fn log(&self, _stage: Stage, _message: &str) {}
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// Through the pipeline, `model` may name a `.pt` file: its tokenizer comes from the models folder.
#[test]
fn pipeline_runs_a_checkpoint_named_by_path() {
    let root = tempfile::tempdir().unwrap();
    let pt = root.path().join("tiny.en.pt");
    std::os::unix::fs::symlink(formats().join("openai/tiny.en.pt"), &pt).unwrap();
    let p = Pipeline::new(PipelineConfig { models_dir: testkit::models_dir(), ..Default::default() }).unwrap();
    let opts = Options { beam_size: Some(1), model: Some(pt.display().to_string()), ..Default::default() };
    let t = p.run(&testkit::fixture("jfk.flac"), &opts, &Quiet).unwrap();
    assert_eq!(normalize(&t.text()), normalize(JFK), "{t:?}");
}

/// A hub repository name (`owner/repo`) finds the directory `worker models pull` installed it in.
#[test]
fn a_hub_repository_name_finds_its_pulled_directory() {
    let models = tempfile::tempdir().unwrap();
    let pulled = models.path().join("whisper-Systran--faster-whisper-tiny.en");
    std::os::unix::fs::symlink(testkit::model("whisper-tiny.en"), &pulled).unwrap();
    let p = Pipeline::new(PipelineConfig { models_dir: models.path().to_path_buf(), ..Default::default() }).unwrap();
    assert_eq!(p.model_dir(Some("Systran/faster-whisper-tiny.en")), pulled);
    assert_eq!(p.model_dir(Some("tiny.en")), models.path().join("whisper-tiny.en"));
    assert!(p.model(Some("Systran/faster-whisper-tiny.en")).is_ok());
}
