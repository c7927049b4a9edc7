//! Speaker embeddings of short windows of audio.
//!
//! [`Encoder::Resemblyzer`] reproduces Resemblyzer's `VoiceEncoder`: a power (not log) mel
//! spectrogram as `librosa.feature.melspectrogram` makes it (16 kHz, `n_fft` 400 with a periodic
//! Hann window, hop 160, centred frames, 40 Slaney-normalised mel bands from 0 to 8 kHz), a
//! 3-layer LSTM (hidden 256) whose last hidden state goes through a linear layer and a ReLU and
//! is L2-normalised. The waveform of each window is first raised to -30 dBFS when it is quieter
//! (Resemblyzer's `normalize_volume(increase_only=True)`, here per window instead of per file).
//!
//! [`Encoder::TorchScript`] runs any TorchScript module `forward(waveform: [B, T]) -> [B, D]`.

use std::path::{Path, PathBuf};

use tch::{nn, nn::RNN, CModule, Device, Kind, Tensor};

use crate::error::SpeechError;

pub(crate) const N_FFT: usize = 400;
pub(crate) const HOP: usize = 160;
const N_MELS: usize = 40;
const N_BINS: usize = N_FFT / 2 + 1;
const TARGET_RMS: f32 = 0.031_622_78; // -30 dBFS
/// Windows whose spectra are computed together.
const MEL_GROUP: usize = 16;

/// Which network turns a window of speech into a speaker embedding.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbeddingModel {
    /// Resemblyzer's speaker encoder, converted to safetensors by `scripts/setup-models.sh`
    /// (`models/resemblyzer/encoder.safetensors`).
    Resemblyzer(PathBuf),
    /// A TorchScript module taking a batch of 16 kHz waveforms `[B, T]` (f32) and returning one
    /// embedding per row `[B, D]`; embeddings are L2-normalised here.
    TorchScript(PathBuf),
}

impl EmbeddingModel {
    /// Resemblyzer's encoder under a models directory.
    pub fn resemblyzer(models_dir: &Path) -> Self {
        EmbeddingModel::Resemblyzer(models_dir.join("resemblyzer").join("encoder.safetensors"))
    }

    pub fn path(&self) -> &Path {
        match self {
            EmbeddingModel::Resemblyzer(p) | EmbeddingModel::TorchScript(p) => p,
        }
    }
}

/// What one window hands to the encoder.
pub(crate) enum Features {
    /// `frames * N_MELS` power mel values (Resemblyzer).
    Mel { frames: usize, data: Vec<f32> },
    /// The raw waveform (TorchScript).
    Wave(Vec<f32>),
}

impl Features {
    pub(crate) fn len(&self) -> usize {
        match self {
            Features::Mel { frames, .. } => *frames,
            Features::Wave(w) => w.len(),
        }
    }
}

#[allow(clippy::large_enum_variant)] // one per process
pub(crate) enum Encoder {
    Resemblyzer { _vs: nn::VarStore, lstm: nn::LSTM, linear: nn::Linear, mel: MelBasis, device: Device },
    TorchScript { module: CModule, device: Device },
}

pub(crate) struct MelBasis {
    /// `[N_FFT, N_BINS]` windowed cosine and sine bases.
    cos: Tensor,
    sin: Tensor,
    /// `[N_BINS, N_MELS]`
    fb: Tensor,
}

fn missing(path: &Path) -> SpeechError {
    SpeechError::ModelNotFound(format!("{} (install the models with scripts/setup-models.sh)", path.display()))
}

impl Encoder {
    /// `bfloat16` converts a TorchScript module's weights (see `DiarizerConfig::bfloat16`).
    pub(crate) fn load(model: &EmbeddingModel, device: Device, bfloat16: bool) -> Result<Self, SpeechError> {
        let path = model.path();
        if !path.is_file() {
            return Err(missing(path));
        }
        match model {
            EmbeddingModel::Resemblyzer(p) => {
                let mut vs = nn::VarStore::new(device);
                let root = vs.root();
                let cfg = nn::RNNConfig { num_layers: 3, batch_first: true, ..Default::default() };
                let lstm = nn::lstm(&root / "lstm", N_MELS as i64, 256, cfg);
                let linear = nn::linear(&root / "linear", 256, 256, Default::default());
                vs.load(p).map_err(|e| SpeechError::ModelInvalid(format!("{}: {e}", p.display())))?;
                vs.freeze();
                Ok(Encoder::Resemblyzer { _vs: vs, lstm, linear, mel: MelBasis::new(), device })
            }
            EmbeddingModel::TorchScript(p) => {
                let load = || -> Result<CModule, SpeechError> {
                    let mut module = CModule::load_on_device(p, device)
                        .map_err(|e| SpeechError::ModelInvalid(format!("{}: {e}", p.display())))?;
                    module.set_eval();
                    Ok(module)
                };
                let mut module = load()?;
                if bfloat16 {
                    module.to(device, Kind::BFloat16, false);
                    // A module that cannot take it (a CAM++ derived before scripts/campplus_model.py
                    // kept its filterbank in float32, or one of the user's) runs as it came.
                    let probe = Tensor::zeros([1, 8000], (Kind::Float, device));
                    if let Err(e) = tch::no_grad(|| module.forward_ts(&[probe])) {
                        tracing::warn!(
                            "{} does not run in bfloat16, so it runs in float32 (scripts/setup-models.sh \
                             remakes CAM++ for it): {e}",
                            p.display()
                        );
                        module = load()?;
                    }
                }
                Ok(Encoder::TorchScript { module, device })
            }
        }
    }

    pub(crate) fn wants_mel(&self) -> bool {
        matches!(self, Encoder::Resemblyzer { .. })
    }

    /// Embeddings (L2-normalised, `[n, D]` flattened) of windows that all have the same length.
    pub(crate) fn embed(&self, batch: &[Features]) -> Result<(usize, Vec<f32>), SpeechError> {
        let n = batch.len() as i64;
        let len = batch[0].len();
        debug_assert!(batch.iter().all(|f| f.len() == len));
        let _guard = tch::no_grad_guard();
        let emb = match self {
            Encoder::Resemblyzer { lstm, linear, mel, device, .. } => {
                // Spectra a few windows at a time (framed audio is 2.5 times the audio), the
                // LSTM over the whole batch: its per-step products then reuse each weight
                // matrix across many windows, which is what makes it fast next to a decoder
                // competing for the same caches.
                let mut mels = Vec::new();
                for group in batch.chunks(MEL_GROUP) {
                    let mut frames = Vec::with_capacity(group.len() * len * N_FFT);
                    for f in group {
                        if let Features::Mel { data, .. } = f {
                            frames.extend_from_slice(data);
                        }
                    }
                    let x = Tensor::from_slice(&frames).view([-1, N_FFT as i64]).to_device(*device);
                    mels.push(mel.apply(&x).view([group.len() as i64, len as i64, N_MELS as i64]));
                }
                let m = Tensor::cat(&mels, 0);
                let (_, state) = lstm.seq(&m);
                let h = state.h().get(2);
                h.apply(linear).relu()
            }
            Encoder::TorchScript { module, device } => {
                let mut wave = Vec::with_capacity(batch.len() * len);
                for f in batch {
                    if let Features::Wave(w) = f {
                        wave.extend_from_slice(w);
                    }
                }
                let x = Tensor::from_slice(&wave).view([n, len as i64]).to_device(*device);
                module.forward_ts(&[x])?.view([n, -1])
            }
        };
        let emb = emb.to_kind(Kind::Float);
        let norm = emb.norm_scalaropt_dim(2, [1i64].as_slice(), true).clamp_min(1e-8);
        let emb = (emb / norm).to_device(Device::Cpu).contiguous();
        let dim = emb.size()[1] as usize;
        let mut out = vec![0f32; batch.len() * dim];
        emb.view([-1]).copy_data(&mut out, batch.len() * dim);
        Ok((dim, out))
    }
}

/// Mel features of one window. `audio(i)` gives the sample at offset `i` from the window's
/// start, for `i` in `-200..len + 200` (callers reflect at the edges of the speech region).
pub(crate) fn mel_features(len: usize, audio: impl Fn(isize) -> f32) -> Features {
    let frames = (len / HOP).max(1);
    let half = (N_FFT / 2) as isize;
    let mut energy = 0f64;
    for i in 0..len {
        let x = audio(i as isize) as f64;
        energy += x * x;
    }
    let rms = (energy / len.max(1) as f64).sqrt() as f32;
    let gain = if rms > 0.0 && rms < TARGET_RMS { TARGET_RMS / rms } else { 1.0 };
    let mut data = Vec::with_capacity(frames * N_FFT);
    for f in 0..frames {
        let c = (f * HOP) as isize;
        for j in -half..half {
            data.push(audio(c + j) * gain);
        }
    }
    Features::Mel { frames, data }
}

impl MelBasis {
    fn new() -> Self {
        let mut cos = vec![0f32; N_FFT * N_BINS];
        let mut sin = vec![0f32; N_FFT * N_BINS];
        for n in 0..N_FFT {
            // Periodic Hann window (scipy.signal.get_window("hann", fftbins=True)).
            let w = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64).cos();
            for k in 0..N_BINS {
                let a = 2.0 * std::f64::consts::PI * ((n * k) % N_FFT) as f64 / N_FFT as f64;
                cos[n * N_BINS + k] = (w * a.cos()) as f32;
                sin[n * N_BINS + k] = (w * a.sin()) as f32;
            }
        }
        let fb = crate::dsp::slaney_mel_filters(crate::dsp::SR, N_FFT, N_MELS);
        Self {
            cos: Tensor::from_slice(&cos).view([N_FFT as i64, N_BINS as i64]),
            sin: Tensor::from_slice(&sin).view([N_FFT as i64, N_BINS as i64]),
            fb: Tensor::from_slice(&fb).view([N_MELS as i64, N_BINS as i64]).tr(),
        }
    }

    /// `[F, N_FFT]` frames -> `[F, N_MELS]` power mel.
    fn apply(&self, frames: &Tensor) -> Tensor {
        let d = frames.device();
        let re = frames.matmul(&self.cos.to_device(d));
        let im = frames.matmul(&self.sin.to_device(d));
        (&re * &re + &im * &im).matmul(&self.fb.to_device(d))
    }
}
