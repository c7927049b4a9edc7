//! `worker transcribe FILE`: one file through the pipeline, without the service.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use vocab::{ComputeType, Device, JobOptions, SpeakerModel, Task};

use crate::config::Settings;
use crate::observer::{StageClock, StageTimes};

#[derive(Debug, clap::Args)]
pub struct TranscribeArgs {
    /// Audio or video file in any format FFmpeg reads.
    pub file: PathBuf,
    /// Output format: json, srt, vtt, txt, tsv, rttm or csv.
    #[arg(long, short, default_value = "txt")]
    pub format: String,
    /// Model name (tiny.en, base, ...) or a model directory.
    #[arg(long)]
    pub model: Option<String>,
    /// Preset from config/presets.toml (HIGH_ACCURACY, LOW_LATENCY, ...).
    #[arg(long)]
    pub preset: Option<String>,
    /// Spoken language; detected when absent.
    #[arg(long)]
    pub language: Option<String>,
    /// transcribe or translate (to English).
    #[arg(long, default_value_t = Task::Transcribe, value_parser = str::parse::<Task>)]
    pub task: Task,
    #[arg(long)]
    pub beam_size: Option<u32>,
    #[arg(long)]
    pub batch_size: Option<u32>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, value_parser = str::parse::<Device>)]
    pub device: Option<Device>,
    /// auto (float16 on CUDA, float32 on a CPU), float32, float16, bfloat16 or int8 (the
    /// decoder's linear layers; float32 elsewhere).
    #[arg(long, value_parser = str::parse::<ComputeType>)]
    pub compute_type: Option<ComputeType>,
    #[arg(long)]
    pub initial_prompt: Option<String>,
    /// Label speakers (SPEAKER_00, ...) on segments; adds a `diarization` part to the result.
    #[arg(long)]
    pub diarize: bool,
    #[arg(long)]
    pub min_speakers: Option<u32>,
    #[arg(long)]
    pub max_speakers: Option<u32>,
    /// Speaker model for --diarize: resemblyzer (fast), campplus (accurate, with segmentation
    /// and spectral clustering) or campplus-fast (the same at a 1.6 s hop, about two thirds of
    /// the cost). Default: the preset's, else the worker's configured one.
    #[arg(long, value_parser = str::parse::<SpeakerModel>)]
    pub speaker_model: Option<SpeakerModel>,
    /// Time every word (alignment); json gets `words`, srt and vtt get cues timed by their words.
    #[arg(long)]
    pub word_timestamps: bool,
    /// srt/vtt: at most N characters per line, breaking between words (1 to 1000).
    /// Implies --word-timestamps.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_line_width: Option<u32>,
    /// srt/vtt: at most N lines per cue (1 to 100); with --max-line-width, cues are cut across
    /// segments and a pause over 3 s starts a new one. Implies --word-timestamps.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_line_count: Option<u32>,
    /// srt/vtt: one cue per word, the word underlined (<u>word</u>). Implies --word-timestamps.
    #[arg(long)]
    pub highlight_words: bool,
    /// Decode without timestamp tokens: one segment per VAD chunk (faster-whisper's batched
    /// pipeline and WhisperX do this by default; word timestamps still time every word)
    #[arg(long)]
    pub without_timestamps: bool,
    /// Seconds added to every time in the result (segments, words, speaker turns), for a
    /// recording cut from a longer one.
    #[arg(long, value_name = "SECONDS")]
    pub timestamp_offset: Option<f64>,
    /// Directory holding the installed models.
    #[arg(long)]
    pub models_dir: Option<PathBuf>,
}

pub fn run(args: TranscribeArgs) -> anyhow::Result<()> {
    let format: transcript::Format = args.format.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    if !args.file.is_file() {
        bail!("no such file: {}", args.file.display());
    }
    let render_options = transcript::RenderOptions {
        max_line_width: args.max_line_width.map(|n| n as usize),
        max_line_count: args.max_line_count.map(|n| n as usize),
        highlight_words: args.highlight_words,
    };
    // Cutting cues needs word timings; asking for it and getting segment cues would puzzle.
    let subtitles = matches!(format, transcript::Format::Srt | transcript::Format::Vtt);
    let word_timestamps = args.word_timestamps || (subtitles && render_options != Default::default());
    let settings =
        Settings::load().context("loading configuration (config/ in the current directory, or APP_CONFIG_DIR)")?;
    let job_options = JobOptions {
        preset: args.preset.clone(),
        language: args.language.clone(),
        task: Some(args.task),
        initial_prompt: args.initial_prompt.clone(),
        word_timestamps: word_timestamps.then_some(true),
        diarize: args.diarize.then_some(true),
        min_speakers: args.min_speakers,
        max_speakers: args.max_speakers,
        timestamp_offset: args.timestamp_offset,
        ..JobOptions::default()
    };
    let job_options = jobs::validate::options(&settings, job_options).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut options = crate::options::resolve(&settings, &job_options);
    if let Some(model) = args.model {
        options.model = Some(model);
    }
    options.beam_size = args.beam_size.or(options.beam_size);
    options.batch_size = args.batch_size.or(options.batch_size);
    if args.without_timestamps {
        options.without_timestamps = Some(true);
    }
    // The command line's device and compute type win over the preset's.
    if let Some(d) = args.device {
        options.device = Some(vec![d]);
    }
    if args.compute_type.is_some() {
        options.compute_type = args.compute_type;
    }
    if args.speaker_model.is_some() {
        options.speaker_model = args.speaker_model;
    }

    let defaults = settings.worker.pipeline_config();
    let models_dir = args.models_dir.unwrap_or(defaults.models_dir.clone());
    let pipeline = speech::Pipeline::new(speech::PipelineConfig {
        models_dir: models_dir.clone(),
        device: args.device.or(defaults.device),
        ..defaults
    })?;
    // The preset's preference list, as a worker chooses for a job (`--model` wins over it).
    eprintln!("{}", crate::model_choice::choose(&pipeline, &models_dir, &mut options)?);
    let observer = StderrObserver::default();
    let mut transcript = pipeline
        .run(&args.file, &options, &observer)
        .with_context(|| format!("transcribing {}", args.file.display()))?;
    let mut stages = StageTimes::default();
    stages.add_clock(&observer.clock);
    eprintln!("stage times: {stages}");
    transcript.shift(job_options.timestamp_offset.unwrap_or(0.0));
    print!("{}", transcript::render_with(&transcript, format, &render_options));
    Ok(())
}

/// Log lines and stage times to stderr for a person watching; Ctrl-C stops the process outright.
#[derive(Default)]
struct StderrObserver {
    cancelled: Arc<AtomicBool>,
    clock: StageClock,
}

impl speech::Observer for StderrObserver {
    fn progress(&self, _stage: speech::Stage, _fraction: f64) {}

    fn log(&self, stage: speech::Stage, message: &str) {
        eprintln!("[{}] {message}", stage.as_str());
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    fn busy(&self, stage: speech::Stage, busy: std::time::Duration) {
        self.clock.add(stage, busy);
    }
}
