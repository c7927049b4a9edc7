//! Speaker diarization: who spoke when.
//!
//! Speech is cut into sliding windows (1.6 s, hop 0.8 s: Resemblyzer's partial utterances with
//! 50 % overlap) inside each stretch of speech; each window gets a speaker embedding
//! ([`EmbeddingModel`]: Resemblyzer's LSTM encoder, or any TorchScript waveform -> embedding
//! module); the embeddings are clustered by average-linkage agglomerative clustering on cosine
//! similarity, which finds the number of speakers itself (a similarity threshold, see
//! [`DEFAULT_THRESHOLD`]) or honours `num_speakers` / `min_speakers` / `max_speakers`. Each
//! window owns the time around its centre up to half-way to its neighbours; consecutive pieces
//! with the same speaker are merged into [`SpeakerTurn`]s. [`Clustering::Spectral`] instead
//! reads the number of speakers from the eigengap of a pruned affinity graph, with no threshold.
//!
//! With a segmentation model ([`DiarizerConfig::segmentation`], pyannote's segmentation-3.0),
//! windows are cut only where one speaker talks alone, speech extends over the short pauses
//! inside a turn, and overlapped speech gets its two nearest speakers (turns then overlap); see
//! [`SpeechFeed`]. Without one, speech is Silero's tight spans and every instant has at most one
//! speaker.
//!
//! # Wiring it into a pipeline
//!
//! ```no_run
//! # fn main() -> Result<(), speech::SpeechError> {
//! use speech::diarize::{assign_speakers, DiarizeOptions, Diarizer, DiarizerConfig};
//! # let models_dir = std::path::Path::new("models");
//! # let mut transcript = speech::transcript::Transcript::default();
//! # let speech_spans: Vec<(usize, Vec<f32>)> = Vec::new();
//! // Once per process (cheap to share: `Diarizer` is `Send + Sync`).
//! let diarizer = Diarizer::new(DiarizerConfig::resemblyzer(models_dir))?;
//! // Once per file.
//! let mut session = diarizer.session();
//! // session.set_observer(observer);            // progress, log lines, cancellation
//! // session.set_expected_samples(total);        // for progress fractions
//! for (offset, samples) in speech_spans {
//!     // 16 kHz mono samples starting at absolute sample `offset`. Push speech spans as the VAD
//!     // releases them: spans of a `SpeechDetector` built with `diarize::vad_options()` (tight
//!     // spans; it can run on the same Silero probabilities as Whisper's padded one). Consecutive
//!     // pushes that touch (offset == previous end) continue one stretch of speech; a gap
//!     // starts a new one.
//!     session.push(&samples, offset)?;
//! }
//! let opts = DiarizeOptions { min_speakers: Some(1), max_speakers: Some(4), ..Default::default() };
//! let turns = session.finish(&opts)?;
//! assign_speakers(&mut transcript, &turns); // segment and word speakers, `diarization`
//! # Ok(()) }
//! ```
//!
//! Memory stays flat in the length of the audio: a session keeps at most one window (plus one
//! batch of features) of audio, and one embedding (1 KiB) per 0.8 s of speech for clustering;
//! above 2000 windows (~27 min of speech; 800 for spectral clustering) clustering first reduces
//! them with k-means.
//! [`Diarizer::diarize_file`] does the whole thing for one file (decode, Silero VAD, session).

mod activity;
mod assign;
mod cluster;
mod embed;
mod feed;
mod spectral;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tch::Device;
pub use transcript::SpeakerTurn;
use vocab::Clustering;

pub use assign::{assign_speakers, speaker_at};
pub use embed::EmbeddingModel;
use embed::{Encoder, Features, HOP, N_FFT};
pub use feed::SpeechFeed;

use crate::dsp::SR;
use crate::error::SpeechError;
use crate::observer::{timed, Observer, Stage};
use crate::source::SpeechSource;
use crate::vad::VadOptions;

/// Average cosine similarity below which two clusters are different speakers (Resemblyzer).
///
/// Picked by a sweep over every file of the diarization development set
/// (`scripts/bench/der.py --sweep 0.6,0.65,0.7,0.75,0.8`: 0.75 is best in total and the only
/// value finding two speakers in each file), not per file. For comparison, the equal-error
/// point of same- versus different-speaker window pairs taken from *different* single-speaker
/// recordings is 0.64 (`der.py --calibrate`): within one recording the shared room and channel
/// raise every similarity, so the in-recording threshold must sit higher.
pub const DEFAULT_THRESHOLD: f32 = 0.75;

/// The speech detection diarization expects: Silero's own defaults (onset 0.5, 250 ms shortest
/// speech, 100 ms shortest silence, 30 ms padding). Tight spans matter: with Whisper-style
/// padding (400 ms) pauses between speakers vanish, windows straddle turns and the error rate
/// rises by about half on the development set. A pipeline that pads spans for Whisper can feed
/// the same VAD probabilities to a second [`SpeechDetector`](crate::vad::SpeechDetector) built with these options at no cost.
pub fn vad_options() -> VadOptions {
    VadOptions {
        threshold: 0.5,
        neg_threshold: None,
        min_speech_ms: 250,
        min_silence_ms: 100,
        speech_pad_ms: 30,
        chunk_size_s: 30.0,
    }
}

/// Everything loaded once: the embedding model and how windows are cut.
#[derive(Debug, Clone)]
pub struct DiarizerConfig {
    pub model: EmbeddingModel,
    /// `cpu` by default.
    pub device: Device,
    /// Window length in seconds. Default 1.6 (Resemblyzer's partial utterances).
    pub window_s: f32,
    /// Hop between windows in seconds. Default 0.8.
    pub step_s: f32,
    /// Speech stretches shorter than this get no embedding of their own and take the speaker
    /// of the nearest window. Default 0.5 s.
    pub min_window_s: f32,
    /// Windows embedded together. Default 128 for Resemblyzer: large batches matter more than
    /// they seem, because the LSTM's weights are re-read at every step of every batch. Default 8
    /// for a TorchScript model: a convolutional encoder's activations grow with the batch, and
    /// past a few windows they leave the caches (CAM++ on one thread embeds 10 minutes of speech
    /// in 24 s at 8 and 43 s at 128).
    pub batch_size: usize,
    /// Default similarity threshold (see [`DEFAULT_THRESHOLD`]); per call in [`DiarizeOptions`].
    pub threshold: f32,
    /// Smallest cluster that counts as a speaker, in seconds of speech (windows * hop).
    /// Smaller clusters are merged into the nearest speaker. Default 2.0 s.
    pub min_speaker_s: f32,
    /// Pauses (between stretches of speech) shorter than this belong to the turns around them:
    /// one turn when both sides are the same speaker, else split at the middle. Default 0.3 s
    /// (NIST's rule for speaker segments: pauses under 0.3 s do not break a segment).
    pub join_gap_s: f32,
    /// Pauses shorter than this between two turns of the *same* speaker (nobody else speaking
    /// in between) are part of the turn, as meeting and conversation references draw turns.
    /// Default 0.3 s (as `join_gap_s`).
    pub bridge_s: f32,
    /// Speakers whose centroids' cosine similarity is at least this become one speaker (after
    /// clustering, most similar first; 3D-Speaker's `mer_cos`). With spectral clustering the
    /// eigengap then looks for two speakers or more, and this merge decides whether there is
    /// only one. Default `None`: no merge.
    pub merge_similarity: Option<f32>,
    /// pyannote's segmentation-3.0 as TorchScript (`scripts/segmentation_model.py`, installed at
    /// [`segmentation_path`]): overlap-aware speech regions. Default `None`: Silero's spans alone.
    /// It pays off only with a strong embedding model (README: CAM++), not with Resemblyzer.
    pub segmentation: Option<PathBuf>,
    /// How embeddings become speakers. Default [`Clustering::Agglomerative`] (with
    /// [`DiarizerConfig::threshold`]); [`Clustering::Spectral`] needs no threshold and suits a
    /// strong embedding model (README: CAM++).
    pub clustering: Clustering,
    /// Runs a TorchScript speaker model in bfloat16 (its weights converted on load; a module that
    /// fails on a probe in bfloat16 is reloaded in float32, with a warning). CAM++ from
    /// `scripts/campplus_model.py` takes it (its filterbank stays in float32): on CPUs with
    /// native bf16 arithmetic it embeds about twice as fast, at cosine 0.999 or more to the
    /// float32 embeddings (sample.wav). Default false; [`DiarizerConfig::campplus`] sets it
    /// where [`native_bf16`] holds. Ignored for Resemblyzer.
    pub bfloat16: bool,
}

impl DiarizerConfig {
    /// Resemblyzer from `models_dir/resemblyzer/encoder.safetensors`, with the defaults.
    pub fn resemblyzer(models_dir: &Path) -> Self {
        Self::with_model(EmbeddingModel::resemblyzer(models_dir))
    }

    /// CAM++ from `models_dir/campplus/campplus.pt` (`scripts/campplus_model.py`), with the
    /// segmentation model and spectral clustering: the settings it was measured with (README:
    /// AMI DER 17.9 % pooled, against Resemblyzer's 36.3 %), in bfloat16 where the CPU has
    /// native bf16 arithmetic. `merge_similarity` 0.8 with `bridge_s` 1.0 took the diarization
    /// set's tune split from 26.2 to 21.2 % pooled DER but its report split from 23.0 to 24.7 %
    /// (`benchdata/diarization/RESULTS.md`), so both stay off here.
    pub fn campplus(models_dir: &Path) -> Self {
        Self {
            segmentation: Some(segmentation_path(models_dir)),
            clustering: Clustering::Spectral,
            bfloat16: native_bf16(),
            ..Self::torchscript(campplus_path(models_dir))
        }
    }

    /// [`DiarizerConfig::campplus`] on windows that do not overlap (hop 1.6 s), with clusters
    /// under 3.2 s of speech (two windows) joining the nearest speaker: half the embeddings. On
    /// the diarization set's report split 25.7 % pooled DER against `campplus`'s 23.0 %, and +11 %
    /// of BALANCED's transcription time against +20 %
    /// (`benchdata/diarization/RESULTS.md`, 2026-12-08). The development AMI excerpts, 30 s each,
    /// have too few windows for it (24.5 % against 17.9 %), so HIGH_ACCURACY keeps `campplus`.
    pub fn campplus_fast(models_dir: &Path) -> Self {
        Self { step_s: 1.6, min_speaker_s: 3.2, ..Self::campplus(models_dir) }
    }

    /// A TorchScript `waveform [B, T] -> embedding [B, D]` module, with the defaults.
    pub fn torchscript(path: PathBuf) -> Self {
        Self::with_model(EmbeddingModel::TorchScript(path))
    }

    pub fn with_model(model: EmbeddingModel) -> Self {
        let batch_size = match model {
            EmbeddingModel::Resemblyzer(_) => 128,
            EmbeddingModel::TorchScript(_) => 8,
        };
        Self {
            model,
            device: Device::Cpu,
            window_s: 1.6,
            step_s: 0.8,
            min_window_s: 0.5,
            batch_size,
            threshold: DEFAULT_THRESHOLD,
            min_speaker_s: 2.0,
            join_gap_s: 0.3,
            bridge_s: 0.3,
            merge_similarity: None,
            segmentation: None,
            clustering: Clustering::Agglomerative,
            bfloat16: false,
        }
    }
}

/// Whether this CPU does bfloat16 arithmetic natively (x86 AVX512-BF16, which every CPU with
/// AMX also has; Arm's BF16 extension). Without it libtorch emulates bf16, slower than float32.
pub fn native_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("bf16")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// Where `scripts/setup-models.sh` puts CAM++.
pub fn campplus_path(models_dir: &Path) -> PathBuf {
    models_dir.join("campplus").join("campplus.pt")
}

/// Where `scripts/setup-models.sh` puts the segmentation model.
pub fn segmentation_path(models_dir: &Path) -> PathBuf {
    models_dir.join("pyannote-segmentation").join("segmentation-3.0.pt")
}

/// Per-file choices. `None` means "find it".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiarizeOptions {
    /// Exactly this many speakers (when there is enough speech for them).
    pub num_speakers: Option<u32>,
    pub min_speakers: Option<u32>,
    pub max_speakers: Option<u32>,
    /// Overrides [`DiarizerConfig::threshold`].
    pub threshold: Option<f32>,
}

/// The loaded embedding model. `Send + Sync`: sessions on several threads share it (their
/// embedding batches take turns).
pub struct Diarizer {
    config: DiarizerConfig,
    encoder: Mutex<Encoder>,
    wants_mel: bool,
    segmenter: Option<Mutex<activity::Segmenter>>,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Diarizer>();
};

impl Diarizer {
    /// Loads the model. A missing file is [`SpeechError::ModelNotFound`] (run
    /// `scripts/setup-models.sh`).
    pub fn new(config: DiarizerConfig) -> Result<Self, SpeechError> {
        if !(config.window_s > 0.1 && config.step_s > 0.0 && config.step_s <= config.window_s) {
            return Err(SpeechError::ModelInvalid(format!(
                "diarization windows: window_s {} and step_s {} (need 0 < step <= window)",
                config.window_s, config.step_s
            )));
        }
        let encoder = Encoder::load(&config.model, config.device, config.bfloat16)?;
        let wants_mel = encoder.wants_mel();
        let segmenter = match &config.segmentation {
            Some(p) => Some(Mutex::new(activity::Segmenter::load(p, config.device)?)),
            None => None,
        };
        Ok(Self { config, encoder: Mutex::new(encoder), wants_mel, segmenter })
    }

    pub fn config(&self) -> &DiarizerConfig {
        &self.config
    }

    /// A new stream (one file).
    pub fn session(&self) -> Session<'_> {
        let c = &self.config;
        let window = ((c.window_s as f64 * SR) as usize / HOP).max(1) * HOP;
        let step = ((c.step_s as f64 * SR) as usize).max(HOP);
        Session {
            d: self,
            observer: None,
            window,
            step,
            min_window: (c.min_window_s as f64 * SR) as usize,
            region: None,
            pending: Vec::new(),
            windows: Vec::new(),
            embeddings: Vec::new(),
            dim: 0,
            short: Vec::new(),
            regions: 0,
            expected: None,
            seen: 0,
        }
    }

    /// Diarizes one file: decodes it as a stream, runs Silero VAD (`vad_model` is
    /// `silero_vad_windows.jit`; pass [`vad_options`] unless you have a reason) and, with a
    /// segmentation model, segmentation over it, and feeds the speech to a session
    /// ([`SpeechFeed`]).
    pub fn diarize_file(
        &self,
        path: &Path,
        vad_model: &Path,
        vad_options: &VadOptions,
        options: &DiarizeOptions,
        observer: Option<&dyn Observer>,
    ) -> Result<Vec<SpeakerTurn>, SpeechError> {
        let feed = self.file_feed(path, vad_model, vad_options, observer)?;
        timed(observer, Stage::Diarize, || feed.finish(options))
    }

    /// The feed of [`Diarizer::diarize_file`] with the whole file pushed, before clustering
    /// ([`SpeechFeed::into_session`] embeds the rest, then [`Session::embeddings`]).
    pub fn file_feed<'a>(
        &'a self,
        path: &Path,
        vad_model: &Path,
        vad_options: &VadOptions,
        observer: Option<&'a dyn Observer>,
    ) -> Result<SpeechFeed<'a>, SpeechError> {
        let mut source = SpeechSource::open(path, vad_model)?;
        let mut session = self.session();
        if let Some(o) = observer {
            session.set_observer(o);
            source.set_observer(o);
        }
        if let Some(d) = source.duration_hint() {
            session.set_expected_samples((d * SR) as usize);
        }
        let mut feed = SpeechFeed::new(session, vad_options);
        loop {
            let eof = source.advance()?;
            for p in source.take_probs() {
                feed.push_prob(p);
            }
            let audio = source.audio();
            timed(observer, Stage::Diarize, || feed.feed(audio.start, &audio.data, eof))?;
            if eof {
                break;
            }
            source.drop_before(feed.earliest_needed());
        }
        Ok(feed)
    }
}

/// A window of speech, in absolute samples.
#[derive(Debug, Clone, Copy)]
struct Win {
    start: usize,
    end: usize,
    region: usize,
}

/// The stretch of speech being received.
struct Region {
    id: usize,
    start: usize,
    end: usize,
    /// Samples from `buf_start` to `end`.
    buf: Vec<f32>,
    buf_start: usize,
    /// Start of the next regular window.
    next: usize,
    /// End of the last window cut.
    covered: usize,
}

impl Region {
    /// Sample at absolute index `i`, reflected at the region's edges (librosa's padding).
    fn at(&self, i: isize) -> f32 {
        let (s, e) = (self.start as isize, self.end as isize);
        let mut j = i;
        if e - s <= 1 {
            j = s;
        } else {
            while j < s || j >= e {
                if j < s {
                    j = 2 * s - j;
                }
                if j >= e {
                    j = 2 * (e - 1) - j;
                }
            }
        }
        let k = (j as usize).saturating_sub(self.buf_start);
        self.buf.get(k).copied().unwrap_or(0.0)
    }
}

/// One file's diarization in progress: push speech, then [`Session::finish`].
pub struct Session<'a> {
    d: &'a Diarizer,
    observer: Option<&'a dyn Observer>,
    window: usize,
    step: usize,
    min_window: usize,
    region: Option<Region>,
    /// Windows cut but not yet embedded.
    pending: Vec<(Win, Features)>,
    /// Embedded windows (in the order of `embeddings`).
    windows: Vec<Win>,
    embeddings: Vec<f32>,
    dim: usize,
    /// Stretches too short for an embedding.
    short: Vec<Win>,
    regions: usize,
    expected: Option<usize>,
    seen: usize,
}

impl<'a> Session<'a> {
    /// Progress (stage `diarize`), log lines and cancellation (checked before every batch).
    pub fn set_observer(&mut self, observer: &'a dyn Observer) {
        self.observer = Some(observer);
    }

    /// The length of the audio in samples, when known, for progress fractions.
    pub fn set_expected_samples(&mut self, total: usize) {
        self.expected = Some(total).filter(|&t| t > 0);
    }

    /// Tells the session how far the stream has got (progress only; pushes do it too).
    pub fn note_seen(&mut self, samples: usize) {
        self.seen = self.seen.max(samples);
    }

    /// Speaker embeddings computed so far: `(start_s, end_s, embedding)` per window.
    pub fn embeddings(&self) -> impl Iterator<Item = (f64, f64, &[f32])> {
        let dim = self.dim.max(1);
        self.windows.iter().zip(self.embeddings.chunks(dim)).map(|(w, e)| (w.start as f64 / SR, w.end as f64 / SR, e))
    }

    /// Adds 16 kHz mono speech starting at absolute sample `offset`. A push that starts where
    /// the previous one ended continues the same stretch of speech; otherwise the previous
    /// stretch is closed. Offsets must not go backwards (an overlapping push is trimmed).
    pub fn push(&mut self, samples: &[f32], offset: usize) -> Result<(), SpeechError> {
        let mut samples = samples;
        let mut offset = offset;
        if let Some(r) = &self.region {
            if offset < r.end {
                let skip = (r.end - offset).min(samples.len());
                samples = &samples[skip..];
                offset = r.end;
            }
        }
        if samples.is_empty() {
            return Ok(());
        }
        if self.region.as_ref().is_some_and(|r| r.end != offset) {
            self.close_region()?;
        }
        let id = self.regions;
        let r = self.region.get_or_insert_with(|| Region {
            id,
            start: offset,
            end: offset,
            buf: Vec::new(),
            buf_start: offset,
            next: offset,
            covered: offset,
        });
        if r.id == id {
            self.regions += 1;
        }
        r.buf.extend_from_slice(samples);
        r.end += samples.len();
        self.seen = self.seen.max(offset + samples.len());
        self.cut_windows(false)?;
        self.embed_pending(false)
    }

    /// Closes the open stretch of speech and embeds every window cut so far (what
    /// [`Session::finish`] does first); later pushes start a new stretch.
    pub fn flush(&mut self) -> Result<(), SpeechError> {
        self.close_region()?;
        self.embed_pending(true)
    }

    /// Closes the stream and clusters: the speaker turns in time order, `SPEAKER_00` first.
    /// No speech gives no turns. (A [`SpeechFeed`] adds overlapped speech after this.)
    pub fn finish(mut self, options: &DiarizeOptions) -> Result<Vec<SpeakerTurn>, SpeechError> {
        self.flush()?;
        let c = &self.d.config;
        let n = self.windows.len();
        if n == 0 && self.short.is_empty() {
            self.progress(1.0);
            return Ok(Vec::new());
        }
        let min_windows = ((c.min_speaker_s / c.step_s).round() as usize).max(1);
        let bounds = cluster::Bounds {
            num: options.num_speakers.filter(|&k| k > 0).map(|k| k as usize),
            min: options.min_speakers.unwrap_or(1).max(1) as usize,
            max: options.max_speakers.filter(|&k| k > 0).map(|k| k as usize).unwrap_or(usize::MAX),
            threshold: options.threshold.unwrap_or(c.threshold),
            min_cluster_size: min_windows,
            method: c.clustering,
            merge_similarity: c.merge_similarity,
        };
        let labels = cluster::cluster(&self.embeddings, self.dim, &bounds)?;
        self.progress(1.0);
        let turns = self.turns(&labels);
        if let Some(o) = self.observer {
            let speakers = turns.iter().map(|t| t.speaker.as_str()).collect::<std::collections::BTreeSet<_>>().len();
            o.log(
                Stage::Diarize,
                &format!("{n} windows, {} speech stretches, {speakers} speakers, {} turns", self.regions, turns.len()),
            );
        }
        Ok(turns)
    }

    fn progress(&self, f: f64) {
        if let Some(o) = self.observer {
            o.progress(Stage::Diarize, f);
        }
    }

    fn cancelled(&self) -> Result<(), SpeechError> {
        match self.observer {
            Some(o) if o.is_cancelled() => Err(SpeechError::Cancelled),
            _ => Ok(()),
        }
    }

    /// Cuts the regular windows the open region has audio for; at the end of the region
    /// (`closing`) also the last one, aligned to the region's end.
    fn cut_windows(&mut self, closing: bool) -> Result<(), SpeechError> {
        let Some(r) = self.region.as_mut() else { return Ok(()) };
        let (w, step) = (self.window, self.step);
        let half = N_FFT / 2;
        let mel = self.d.wants_mel;
        let mut cut = Vec::new();
        // Regular windows need the samples their last frame reaches.
        while r.next + w + half - HOP <= r.end && (r.next + w <= r.end) {
            cut.push((r.next, r.next + w));
            r.next += step;
        }
        if closing {
            let len = r.end - r.start;
            if len >= w {
                if r.covered.max(cut.last().map_or(0, |c| c.1)) + HOP * 10 <= r.end {
                    cut.push((r.end - w, r.end));
                }
            } else if len >= self.min_window {
                cut.push((r.start, r.end));
            } else {
                self.short.push(Win { start: r.start, end: r.end, region: r.id });
            }
        }
        for (s, e) in cut {
            let feats = if mel {
                embed::mel_features(e - s, |i| r.at(s as isize + i))
            } else {
                Features::Wave((s..e).map(|i| r.at(i as isize)).collect())
            };
            r.covered = r.covered.max(e);
            self.pending.push((Win { start: s, end: e, region: r.id }, feats));
        }
        // Keep what the next regular window and the final, end-aligned one may need.
        let keep = r.next.saturating_sub(step + half).max(r.start);
        if keep > r.buf_start {
            r.buf.drain(..keep - r.buf_start);
            r.buf_start = keep;
        }
        Ok(())
    }

    fn close_region(&mut self) -> Result<(), SpeechError> {
        self.cut_windows(true)?;
        self.region = None;
        Ok(())
    }

    /// Embeds pending windows: full batches, or everything when `all`.
    fn embed_pending(&mut self, all: bool) -> Result<(), SpeechError> {
        let bs = self.d.config.batch_size.max(1);
        while self.pending.len() >= bs || (all && !self.pending.is_empty()) {
            self.cancelled()?;
            // Windows of the same length go together.
            let len = self.pending[0].1.len();
            let mut batch = Vec::new();
            let mut rest = Vec::new();
            for p in self.pending.drain(..) {
                if batch.len() < bs && p.1.len() == len {
                    batch.push(p);
                } else {
                    rest.push(p);
                }
            }
            self.pending = rest;
            let feats: Vec<Features> =
                batch.iter_mut().map(|(_, f)| std::mem::replace(f, Features::Wave(Vec::new()))).collect();
            let (dim, emb) = self.d.encoder.lock().unwrap_or_else(|e| e.into_inner()).embed(&feats)?;
            self.dim = dim;
            self.embeddings.extend_from_slice(&emb);
            self.windows.extend(batch.iter().map(|(w, _)| *w));
            if let Some(t) = self.expected {
                self.progress((self.seen as f64 / t as f64).min(0.99));
            }
        }
        Ok(())
    }

    /// Turns from window labels: each window owns the time up to half-way to its neighbours in
    /// the same stretch of speech; short stretches take the nearest window's speaker.
    fn turns(&self, labels: &[usize]) -> Vec<SpeakerTurn> {
        // (start, end, label) pieces in samples.
        let mut pieces: Vec<(usize, usize, usize)> = Vec::new();
        let mut order: Vec<usize> = (0..self.windows.len()).collect();
        order.sort_by_key(|&i| (self.windows[i].start, self.windows[i].end));
        let mut i = 0;
        while i < order.len() {
            let region = self.windows[order[i]].region;
            let mut j = i;
            while j < order.len() && self.windows[order[j]].region == region {
                j += 1;
            }
            let group = &order[i..j];
            let lo = self.windows[group[0]].start;
            let hi = group.iter().map(|&k| self.windows[k].end).max().unwrap_or(lo);
            let centre = |k: usize| (self.windows[k].start + self.windows[k].end) / 2;
            for (g, &k) in group.iter().enumerate() {
                let s = if g == 0 { lo } else { (centre(group[g - 1]) + centre(k)) / 2 };
                let e = if g + 1 == group.len() { hi } else { (centre(k) + centre(group[g + 1])) / 2 };
                if e > s {
                    pieces.push((s, e, labels[k]));
                }
            }
            i = j;
        }
        for s in &self.short {
            let mid = (s.start + s.end) / 2;
            let label = (0..self.windows.len())
                .min_by_key(|&k| {
                    let w = self.windows[k];
                    (w.start as i64 - mid as i64).abs().min((w.end as i64 - mid as i64).abs())
                })
                .map_or(0, |k| labels[k]);
            pieces.push((s.start, s.end, label));
        }
        pieces.sort();
        // Merge touching pieces of one speaker; name speakers by first appearance.
        let mut names: Vec<usize> = Vec::new();
        let mut turns: Vec<(usize, usize, usize)> = Vec::new();
        let join = (self.d.config.join_gap_s.max(0.0) as f64 * SR) as usize;
        let bridge = (self.d.config.bridge_s.max(0.0) as f64 * SR) as usize;
        for (s, e, l) in pieces {
            let name = match names.iter().position(|&x| x == l) {
                Some(p) => p,
                None => {
                    names.push(l);
                    names.len() - 1
                }
            };
            match turns.last_mut() {
                Some(t) if t.2 == name && s <= t.1 + join.max(bridge) => t.1 = t.1.max(e),
                Some(t) if s < t.1 => {
                    // Overlap between stretches (should not happen): the later one starts later.
                    t.1 = s;
                    turns.push((s, e, name));
                }
                Some(t) if s < t.1 + join => {
                    // A short pause between two speakers: each gets half of it.
                    let mid = (t.1 + s) / 2;
                    t.1 = mid;
                    turns.push((mid, e, name));
                }
                _ => turns.push((s, e, name)),
            }
        }
        turns
            .into_iter()
            .filter(|t| t.1 > t.0)
            .map(|(s, e, l)| SpeakerTurn {
                start: s as f64 / SR,
                end: e as f64 / SR,
                speaker: format!("SPEAKER_{l:02}"),
            })
            .collect()
    }
}
