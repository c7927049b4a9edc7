//! The transcription pipeline: [`Pipeline`] holds what is loaded once per process (Whisper
//! models, diarizers) and runs files through decoding, VAD, transcription and diarization
//! ([`run`]).

mod run;
mod speakers;
mod transcriber;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use transcript::Transcript;
use vocab::{Clustering, ComputeType, Device, Options, SpeakerModel};

use crate::audio::AudioReader;
use crate::diarize::{segmentation_path, DiarizeOptions, Diarizer, DiarizerConfig};
use crate::error::SpeechError;
use crate::observer::Observer;
use crate::source::SpeechSource;
use crate::vad::SileroVad;
use crate::whisper::{Precision, Whisper};

/// Where the pipeline finds its models and how it runs them.
#[derive(Debug, Clone, Default)]
pub struct PipelineConfig {
    /// Holds `whisper-*` model directories, `silero-vad/silero_vad_windows.jit` and, for
    /// diarization, `resemblyzer/` and `pyannote-segmentation/`.
    pub models_dir: PathBuf,
    /// Default: the CPU.
    pub device: Option<Device>,
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
    pub speaker_clustering: Clustering,
}

type Cached = Arc<Mutex<Whisper>>;
/// A loaded model is one directory on one device in one precision.
type CacheKey = (PathBuf, tch::Device, Precision);

/// Holds what is loaded once per process and runs jobs through the stages.
/// `Send + Sync`: jobs on several threads share the model cache (one job per model at a time).
pub struct Pipeline {
    config: PipelineConfig,
    device: tch::Device,
    threads: i32,
    cache: Mutex<Vec<(CacheKey, Cached)>>,
    /// Each loaded on the first job that diarizes with it (`None`: the configured one).
    diarizers: Mutex<Vec<(Option<SpeakerModel>, Arc<Diarizer>)>>,
}

fn torch_device(device: Device) -> tch::Device {
    match device {
        Device::Cpu => tch::Device::Cpu,
        Device::Cuda(n) => tch::Device::Cuda(n.unwrap_or(0) as usize),
        Device::Auto if crate::cuda::is_available() => tch::Device::Cuda(0),
        Device::Auto => tch::Device::Cpu,
    }
}

impl Pipeline {
    pub fn new(config: PipelineConfig) -> Result<Self, SpeechError> {
        let device = torch_device(config.device.unwrap_or(Device::Cpu));
        if let Some(reason) = device.is_cuda().then(crate::cuda::unavailable_reason).flatten() {
            return Err(SpeechError::InvalidDevice(format!("CUDA was asked for but is not available: {reason}")));
        }
        let threads =
            config.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        let threads = threads.max(1) as i32;
        tch::set_num_threads(threads);
        Ok(Self { config, device, threads, cache: Mutex::new(Vec::new()), diarizers: Mutex::new(Vec::new()) })
    }

    /// Where a model name points: a directory or `.pt` file as given, or `models_dir/whisper-NAME`.
    pub fn model_dir(&self, name: Option<&str>) -> PathBuf {
        let name = name.unwrap_or("tiny.en");
        let p = Path::new(name);
        if p.is_absolute() || p.is_dir() || p.is_file() {
            return p.to_path_buf();
        }
        let direct = self.config.models_dir.join(name);
        if direct.join("model.bin").is_file() || direct.join("model.safetensors").is_file() || direct.is_file() {
            return direct;
        }
        // A hub repository, `owner/repo`, is installed by `worker models pull` as `owner--repo`.
        if let Ok(source) = vocab::catalog::ModelSource::resolve(name) {
            return self.config.models_dir.join(source.dir_name());
        }
        let bare = name.strip_prefix("whisper-").unwrap_or(name);
        self.config.models_dir.join(format!("whisper-{bare}"))
    }

    /// The loaded model for `name` on the pipeline's device, from the cache when possible.
    pub fn model(&self, name: Option<&str>) -> Result<Cached, SpeechError> {
        self.model_on(name, self.device, Precision::auto(self.device))
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
    pub fn placement(&self, options: &Options) -> Result<(tch::Device, Precision), SpeechError> {
        let device = match &options.device {
            None => self.device,
            Some(list) => {
                let mut found = None;
                for d in list {
                    let d = torch_device(*d);
                    if !d.is_cuda() || crate::cuda::is_available() {
                        found = Some(d);
                        break;
                    }
                }
                found.ok_or_else(|| {
                    let names: Vec<String> = list.iter().map(Device::to_string).collect();
                    SpeechError::InvalidDevice(format!("none of {names:?} is available on this worker (no CUDA)"))
                })?
            }
        };
        Ok((device, precision(options.compute_type.unwrap_or(ComputeType::Auto), device)))
    }

    fn model_on(&self, name: Option<&str>, device: tch::Device, precision: Precision) -> Result<Cached, SpeechError> {
        let dir = self.model_dir(name);
        let key = (dir.clone(), device, precision);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = cache.iter().position(|(k, _)| *k == key) {
            let entry = cache.remove(i);
            let m = entry.1.clone();
            cache.push(entry);
            return Ok(m);
        }
        if !dir.exists() {
            return Err(SpeechError::ModelNotFound(format!(
                "{} (no such directory or file; install models with scripts/setup-models.sh or pass a model directory)",
                dir.display()
            )));
        }
        let m = Arc::new(Mutex::new(Whisper::load_with(&dir, device, precision, &[&self.config.models_dir])?));
        let cap = self.config.model_cache.unwrap_or(2).max(1);
        while cache.len() >= cap {
            cache.remove(0);
        }
        cache.push((key, m.clone()));
        Ok(m)
    }

    /// Decodes `path` as a stream, finds speech, and transcribes it chunk batch by chunk batch.
    pub fn run(&self, path: &Path, options: &Options, observer: &dyn Observer) -> Result<Transcript, SpeechError> {
        let (device, precision) = self.placement(options)?;
        let model = self.model_on(options.model.as_deref(), device, precision)?;
        let reader = AudioReader::open(path)?;
        let vad_path = self.config.models_dir.join("silero-vad").join("silero_vad_windows.jit");
        let diarizer = if options.diarize { Some(self.diarizer(options.speaker_model)?) } else { None };
        let diarize = diarizer.as_deref().map(|d| {
            let o = DiarizeOptions {
                min_speakers: options.min_speakers,
                max_speakers: options.max_speakers,
                ..Default::default()
            };
            (d, o)
        });
        let source = SpeechSource::new(reader, SileroVad::load(&vad_path)?);
        run::run(model, source, options, observer, self.threads, diarize)
    }

    fn diarizer(&self, model: Option<SpeakerModel>) -> Result<Arc<Diarizer>, SpeechError> {
        // Held while a model loads (a second or two, once), so that two jobs never load it twice.
        let mut loaded = self.diarizers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, d)) = loaded.iter().find(|(m, _)| *m == model) {
            return Ok(d.clone());
        }
        let models_dir = &self.config.models_dir;
        let config = match model {
            Some(SpeakerModel::Resemblyzer) => DiarizerConfig::resemblyzer(models_dir),
            Some(SpeakerModel::Campplus) => DiarizerConfig::campplus(models_dir),
            Some(SpeakerModel::CampplusFast) => DiarizerConfig::campplus_fast(models_dir),
            None => self.configured_diarizer(),
        };
        let d = Arc::new(Diarizer::new(config)?);
        loaded.push((model, d.clone()));
        Ok(d)
    }

    /// The diarizer `PipelineConfig`'s speaker settings describe.
    fn configured_diarizer(&self) -> DiarizerConfig {
        let models_dir = &self.config.models_dir;
        let mut config = match &self.config.speaker_model {
            Some(path) => DiarizerConfig::torchscript(path.clone()),
            None => DiarizerConfig::resemblyzer(models_dir),
        };
        if let Some(t) = self.config.speaker_threshold {
            config.threshold = t;
        }
        config.segmentation = self.config.speaker_segmentation.then(|| segmentation_path(models_dir));
        config.clustering = self.config.speaker_clustering;
        config
    }
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Pipeline>();
};

/// What `compute` means on `device`. CUDA has no int8 path here and computes it in float16; a
/// CPU computes float16 in float32, as CTranslate2 does.
fn precision(compute: ComputeType, device: tch::Device) -> Precision {
    match compute {
        // int8 halves beam search's CPU time but cost base about 1 WER point on the development
        // set (README, compute types): it is asked for, never the default.
        ComputeType::Auto => Precision::auto(device),
        ComputeType::Float32 => Precision::FLOAT32,
        ComputeType::Bfloat16 => Precision::BFLOAT16,
        ComputeType::Float16 | ComputeType::Int8 if device.is_cuda() => Precision::FLOAT16,
        ComputeType::Float16 => Precision::FLOAT32,
        ComputeType::Int8 => Precision::INT8,
    }
}
