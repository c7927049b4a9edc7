use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use transcript::Transcript;

use crate::audio::{AudioError, AudioReader, SAMPLE_RATE};
use crate::vad::VadError;
use crate::whisper::{ModelError, Whisper};

/// The stages a job goes through inside the pipeline, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Decode,
    Vad,
    Transcribe,
    Align,
    Diarize,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::Vad => "vad",
            Stage::Transcribe => "transcribe",
            Stage::Align => "align",
            Stage::Diarize => "diarize",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    #[default]
    Transcribe,
    /// Into English (multilingual models only).
    Translate,
}

/// What the caller wants from one run; already validated by the caller. Every `None` means
/// the default named on the field (faster-whisper's / WhisperX's defaults).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Options {
    /// A model directory path, or a name under `PipelineConfig::models_dir`
    /// (`tiny.en` -> `whisper-tiny.en`, `base` -> `whisper-base`). Default `tiny.en`.
    pub model: Option<String>,
    /// ISO 639-1 code; `None` detects the language on the first chunk (English-only models: `en`).
    pub language: Option<String>,
    /// Restricts language detection (and a given `language`) to these codes.
    pub allowed_languages: Option<Vec<String>>,
    pub task: Task,
    /// Per-word start, end and score from the alignment heads' cross-attention.
    pub word_timestamps: bool,
    /// Speaker turns, and the speaker of every segment and word.
    pub diarize: bool,
    pub min_speakers: Option<u32>,
    pub max_speakers: Option<u32>,
    /// Text that conditions the decoder on every chunk (names, spellings).
    pub initial_prompt: Option<String>,
    /// Beam width at temperature 0; 1 is greedy. Default 5.
    pub beam_size: Option<u32>,
    /// Chunks encoded and decoded together. Default 8.
    pub batch_size: Option<u32>,
    /// Beam search patience (finished candidates = round(beam_size * patience)). Default 1.0.
    pub patience: Option<f32>,
    /// Hypotheses are ranked by sum_logprob / length^length_penalty. Default 1.0.
    pub length_penalty: Option<f32>,
    /// Temperatures tried in order when a result fails the thresholds.
    /// Default [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]; `[0.0]` disables fallback.
    pub temperature: Option<Vec<f32>>,
    /// Samples drawn at a temperature above 0. Default 5.
    pub best_of: Option<u32>,
    /// Fallback when the text's zlib compression ratio exceeds this. Default 2.4.
    pub compression_ratio_threshold: Option<f64>,
    /// Fallback when the average log-probability is below this. Default -1.0.
    pub log_prob_threshold: Option<f64>,
    /// A chunk is silence when its no-speech probability exceeds this and the average
    /// log-probability is below `log_prob_threshold`. Default 0.6.
    pub no_speech_threshold: Option<f64>,
    /// Feed each chunk's text to the next as prompt (forces batch size 1). Default false (WhisperX).
    pub condition_on_previous_text: Option<bool>,
    /// Decode without timestamp tokens: one segment per chunk. Default false.
    pub without_timestamps: Option<bool>,
    /// Token ids never produced; -1 means the model's default list. Default [-1].
    pub suppress_tokens: Option<Vec<i64>>,
    /// Forbid a blank or end-of-text as the first token. Default true.
    pub suppress_blank: Option<bool>,
    /// VAD speech onset probability. Default 0.5.
    pub vad_onset: Option<f32>,
    /// VAD speech offset probability. Default onset - 0.15.
    pub vad_offset: Option<f32>,
    /// Longest chunk in seconds (at most 30). Default 30.
    pub chunk_size: Option<f32>,
    /// Devices in order of preference (`cuda`, `cuda:N`, `cpu`); the first one this machine has
    /// is used. Default: the pipeline's device.
    pub device: Option<Vec<String>>,
    /// `auto` (f32 on CPU, f16 on CUDA), `float32` or `float16`; float16 on a CPU computes in
    /// float32, as CTranslate2 does. Default `auto`.
    pub compute_type: Option<String>,
    /// The speaker model that diarizes. Default: the pipeline's own
    /// (`PipelineConfig::speaker_model` and the settings beside it).
    pub speaker_model: Option<SpeakerModel>,
}

/// A bundled speaker model, with the diarization settings it was measured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpeakerModel {
    /// [`DiarizerConfig::resemblyzer`](crate::diarize::DiarizerConfig::resemblyzer): cheap.
    Resemblyzer,
    /// [`DiarizerConfig::campplus`](crate::diarize::DiarizerConfig::campplus): accurate.
    Campplus,
}

impl std::str::FromStr for SpeakerModel {
    type Err = SpeechError;

    /// `resemblyzer` or `campplus`, as presets and `--speaker-model` name them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "resemblyzer" => Ok(SpeakerModel::Resemblyzer),
            "campplus" => Ok(SpeakerModel::Campplus),
            other => Err(SpeechError::ModelNotFound(format!(
                "speaker model {other:?} (the bundled ones are resemblyzer and campplus)"
            ))),
        }
    }
}

/// Where the pipeline finds its models and how it runs them.
#[derive(Debug, Clone, Default)]
pub struct PipelineConfig {
    /// Holds `whisper-*` model directories, `silero-vad/silero_vad_windows.jit` and, for
    /// diarization, `resemblyzer/` and `pyannote-segmentation/`.
    pub models_dir: PathBuf,
    /// `cpu` (default), `cuda`, `cuda:N`, or `auto` (CUDA when available).
    pub device: Option<String>,
    /// Torch intra-op threads; default: the machine's cores.
    pub threads: Option<usize>,
    /// Models kept loaded (least recently used dropped first). Default 2.
    pub model_cache: Option<usize>,
    /// A TorchScript speaker-embedding module replacing Resemblyzer for diarization.
    pub speaker_model: Option<PathBuf>,
    /// The clustering threshold for `speaker_model` (default: Resemblyzer's).
    pub speaker_threshold: Option<f32>,
    /// Diarize with the segmentation model (`diarize::DiarizerConfig::segmentation`).
    pub speaker_segmentation: bool,
    /// How speaker embeddings are clustered (`diarize::DiarizerConfig::clustering`).
    pub speaker_clustering: crate::diarize::Clustering,
}

/// How the pipeline talks back to its caller. Called from the pipeline's thread.
pub trait Observer: Send + Sync {
    /// `fraction` of `stage` is done (0..=1). Callers throttle writes themselves.
    fn progress(&self, stage: Stage, fraction: f64);
    fn log(&self, stage: Stage, message: &str);
    /// Checked between blocks of work; when true the pipeline stops with [`SpeechError::Cancelled`].
    fn is_cancelled(&self) -> bool;
    /// Segments that are final, in time order; each call continues where the previous one
    /// ended, so all calls together are the transcript's segments (speakers come only with the
    /// finished transcript). For streaming partial results.
    fn segments(&self, _segments: &[transcript::Segment]) {}
}

#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error("cancelled")]
    Cancelled,
    /// The named model is neither a directory nor a name under the models directory.
    #[error("model not found: {0}")]
    ModelNotFound(String),
    /// The model directory exists but cannot be loaded (truncated, unknown layout, ...).
    #[error("model cannot be loaded: {0}")]
    ModelInvalid(String),
    #[error("unsupported language: {0}")]
    UnsupportedLanguage(String),
    #[error("invalid device: {0}")]
    InvalidDevice(String),
    #[error("invalid compute type: {0}")]
    InvalidComputeType(String),
    #[error("inference failed: {0}")]
    Inference(String),
}

impl From<ModelError> for SpeechError {
    fn from(e: ModelError) -> Self {
        match e.code() {
            "model_not_found" => SpeechError::ModelNotFound(e.to_string()),
            "inference_failed" => SpeechError::Inference(e.to_string()),
            _ => SpeechError::ModelInvalid(e.to_string()),
        }
    }
}

impl From<VadError> for SpeechError {
    fn from(e: VadError) -> Self {
        match e {
            VadError::NotFound(_) => SpeechError::ModelNotFound(e.to_string()),
            VadError::Torch(_) => SpeechError::Inference(e.to_string()),
        }
    }
}

impl From<tch::TchError> for SpeechError {
    fn from(e: tch::TchError) -> Self {
        SpeechError::Inference(e.to_string())
    }
}

impl SpeechError {
    /// A stable machine-readable code for job errors.
    pub fn code(&self) -> &'static str {
        match self {
            SpeechError::Audio(e) => e.code(),
            SpeechError::Cancelled => "canceled",
            SpeechError::ModelNotFound(_) => "model_not_found",
            SpeechError::ModelInvalid(_) => "model_invalid",
            SpeechError::UnsupportedLanguage(_) => "unsupported_language",
            SpeechError::InvalidDevice(_) => "invalid_device",
            SpeechError::InvalidComputeType(_) => "invalid_compute_type",
            SpeechError::Inference(_) => "inference_failed",
        }
    }
}

type Cached = Arc<Mutex<Whisper>>;
/// A loaded model is one directory on one device in one precision.
type CacheKey = (PathBuf, tch::Device, tch::Kind);

/// Holds what is loaded once per process and runs jobs through the stages.
/// `Send + Sync`: jobs on several threads share the model cache (one job per model at a time).
pub struct Pipeline {
    config: PipelineConfig,
    device: tch::Device,
    threads: i32,
    cache: Mutex<Vec<(CacheKey, Cached)>>,
    /// Each loaded on the first job that diarizes with it (`None`: the configured one).
    diarizers: Mutex<Vec<(Option<SpeakerModel>, Arc<crate::diarize::Diarizer>)>>,
}

fn parse_device(s: Option<&str>) -> Result<tch::Device, SpeechError> {
    match s.unwrap_or("cpu") {
        "cpu" | "" => Ok(tch::Device::Cpu),
        "auto" => Ok(tch::Device::cuda_if_available()),
        "cuda" | "gpu" => Ok(tch::Device::Cuda(0)),
        d => match d.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(n) => Ok(tch::Device::Cuda(n)),
            None => Err(SpeechError::InvalidDevice(format!("{d} (expected cpu, cuda, cuda:N or auto)"))),
        },
    }
}

impl Pipeline {
    pub fn new(config: PipelineConfig) -> Result<Self, SpeechError> {
        let device = parse_device(config.device.as_deref())?;
        if device.is_cuda() && !tch::Cuda::is_available() {
            return Err(SpeechError::InvalidDevice("CUDA was asked for but is not available".into()));
        }
        let threads =
            config.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        let threads = threads.max(1) as i32;
        tch::set_num_threads(threads);
        Ok(Self { config, device, threads, cache: Mutex::new(Vec::new()), diarizers: Mutex::new(Vec::new()) })
    }

    /// Where a model name points: a directory as given, or `models_dir/whisper-NAME`.
    pub fn model_dir(&self, name: Option<&str>) -> PathBuf {
        let name = name.unwrap_or("tiny.en");
        let p = Path::new(name);
        if p.is_absolute() || p.is_dir() {
            return p.to_path_buf();
        }
        let direct = self.config.models_dir.join(name);
        if direct.join("model.bin").is_file() || direct.join("model.safetensors").is_file() {
            return direct;
        }
        let bare = name.strip_prefix("whisper-").unwrap_or(name);
        self.config.models_dir.join(format!("whisper-{bare}"))
    }

    /// The loaded model for `name` on the pipeline's device, from the cache when possible.
    pub fn model(&self, name: Option<&str>) -> Result<Cached, SpeechError> {
        let kind = if self.device.is_cuda() { tch::Kind::Half } else { tch::Kind::Float };
        self.model_on(name, self.device, kind)
    }

    /// Forgets every cached model, so its memory is freed once no running job holds it.
    /// Returns how many were cached.
    pub fn drop_models(&self) -> usize {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let n = cache.len();
        cache.clear();
        n
    }

    /// How many models are cached now.
    pub fn cached_models(&self) -> usize {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Where and in what precision `options` run: the first preferred device this machine has
    /// (else the pipeline's), and the compute type on it.
    pub fn placement(&self, options: &Options) -> Result<(tch::Device, tch::Kind), SpeechError> {
        let device = match &options.device {
            None => self.device,
            Some(list) => {
                let mut found = None;
                for d in list {
                    let d = parse_device(Some(d))?;
                    if !d.is_cuda() || tch::Cuda::is_available() {
                        found = Some(d);
                        break;
                    }
                }
                found.ok_or_else(|| {
                    SpeechError::InvalidDevice(format!("none of {list:?} is available on this worker (no CUDA)"))
                })?
            }
        };
        let kind = match options.compute_type.as_deref().unwrap_or("auto") {
            "auto" | "default" | "float16" if device.is_cuda() => tch::Kind::Half,
            "auto" | "default" | "float16" | "float32" => tch::Kind::Float,
            other => {
                return Err(SpeechError::InvalidComputeType(format!(
                    "{other} (expected auto, float32 or float16; int8 is not implemented)"
                )))
            }
        };
        Ok((device, kind))
    }

    fn model_on(&self, name: Option<&str>, device: tch::Device, kind: tch::Kind) -> Result<Cached, SpeechError> {
        let dir = self.model_dir(name);
        let key = (dir.clone(), device, kind);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = cache.iter().position(|(k, _)| *k == key) {
            let entry = cache.remove(i);
            let m = entry.1.clone();
            cache.push(entry);
            return Ok(m);
        }
        if !dir.is_dir() {
            return Err(SpeechError::ModelNotFound(format!(
                "{} (no such directory; install models with scripts/setup-models.sh or pass a model directory)",
                dir.display()
            )));
        }
        let m = Arc::new(Mutex::new(Whisper::load_as(&dir, device, kind)?));
        let cap = self.config.model_cache.unwrap_or(2).max(1);
        while cache.len() >= cap {
            cache.remove(0);
        }
        cache.push((key, m.clone()));
        Ok(m)
    }

    /// Decodes `path` as a stream, finds speech, and transcribes it chunk batch by chunk batch.
    pub fn run(&self, path: &Path, options: &Options, observer: &dyn Observer) -> Result<Transcript, SpeechError> {
        let (device, kind) = self.placement(options)?;
        let model = self.model_on(options.model.as_deref(), device, kind)?;
        let reader = AudioReader::open(path)?;
        let vad_path = self.config.models_dir.join("silero-vad").join("silero_vad_windows.jit");
        let diarizer = if options.diarize { Some(self.diarizer(options.speaker_model)?) } else { None };
        let diarize = diarizer.as_deref().map(|d| {
            let o = crate::diarize::DiarizeOptions {
                min_speakers: options.min_speakers,
                max_speakers: options.max_speakers,
                ..Default::default()
            };
            (d, o)
        });
        crate::whisper::stream::run(model, &vad_path, options, observer, reader, self.threads, diarize)
    }

    fn diarizer(&self, model: Option<SpeakerModel>) -> Result<Arc<crate::diarize::Diarizer>, SpeechError> {
        // Held while a model loads (a second or two, once), so that two jobs never load it twice.
        let mut loaded = self.diarizers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, d)) = loaded.iter().find(|(m, _)| *m == model) {
            return Ok(d.clone());
        }
        let models_dir = &self.config.models_dir;
        let config = match model {
            Some(SpeakerModel::Resemblyzer) => crate::diarize::DiarizerConfig::resemblyzer(models_dir),
            Some(SpeakerModel::Campplus) => crate::diarize::DiarizerConfig::campplus(models_dir),
            None => self.configured_diarizer(),
        };
        let d = Arc::new(crate::diarize::Diarizer::new(config)?);
        loaded.push((model, d.clone()));
        Ok(d)
    }

    /// The diarizer `PipelineConfig`'s speaker settings describe.
    fn configured_diarizer(&self) -> crate::diarize::DiarizerConfig {
        let models_dir = &self.config.models_dir;
        let mut config = match &self.config.speaker_model {
            Some(path) => crate::diarize::DiarizerConfig::torchscript(path.clone()),
            None => crate::diarize::DiarizerConfig::resemblyzer(models_dir),
        };
        if let Some(t) = self.config.speaker_threshold {
            config.threshold = t;
        }
        config.segmentation = self.config.speaker_segmentation.then(|| crate::diarize::segmentation_path(models_dir));
        config.clustering = self.config.speaker_clustering;
        config
    }
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Pipeline>();
};

pub(crate) const SR: f64 = SAMPLE_RATE as f64;
