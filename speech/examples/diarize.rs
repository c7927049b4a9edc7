//! Diarizes audio files and prints RTTM on stdout (one line per speaker turn; the file id is the
//! audio's stem). Timing goes to stderr as one JSON line per file.
//!
//! ```text
//! cargo run --release -p speech --example diarize -- [--models DIR] [--threads N]
//!     [--num-speakers K] [--min-speakers K] [--max-speakers K] [--threshold T]
//!     [--torchscript MODEL.pt] [--segmentation] [--spectral] [--vad-onset P] [--join-gap S] [--window S] [--step S] [--min-speaker S] [--batch N] [--embeddings]
//!     [--campplus | --campplus-fast] [--bf16 true|false] [--merge COSINE] [--bridge S]
//!     FILE...
//! ```
//! `--campplus` starts from the settings of presets naming `speaker_model = "campplus"`
//! (`DiarizerConfig::campplus`: CAM++, segmentation, spectral clustering, bfloat16 where the CPU
//! has it); `--campplus-fast` from `speaker_model = "campplus-fast"`'s
//! (`DiarizerConfig::campplus_fast`); `--bf16` overrides the precision of a TorchScript model.
//! `--embeddings` prints `EMB file start end v1 v2 ...` lines (the window embeddings) instead
//! of RTTM (windows over the speech Silero VAD finds), for threshold calibration.

use std::path::PathBuf;
use std::time::Instant;

use speech::diarize::{DiarizeOptions, Diarizer, DiarizerConfig};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut models = PathBuf::from("models");
    let mut threads: Option<i32> = None;
    let mut opts = DiarizeOptions::default();
    let mut torchscript: Option<PathBuf> = None;
    let mut campplus = false;
    let mut campplus_fast = false;
    let mut bf16: Option<bool> = None;
    let mut dump = false;
    let mut segmentation = false;
    let mut step: Option<f32> = None;
    let mut window: Option<f32> = None;
    let mut spectral = false;
    let mut min_speaker: Option<f32> = None;
    let mut batch: Option<usize> = None;
    let mut join: Option<f32> = None;
    let mut merge: Option<f32> = None;
    let mut bridge: Option<f32> = None;
    let mut vad_opts = speech::diarize::vad_options();
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--models" => models = PathBuf::from(val()?),
            "--threads" => threads = Some(val()?.parse()?),
            "--num-speakers" => opts.num_speakers = Some(val()?.parse()?),
            "--min-speakers" => opts.min_speakers = Some(val()?.parse()?),
            "--max-speakers" => opts.max_speakers = Some(val()?.parse()?),
            "--threshold" => opts.threshold = Some(val()?.parse()?),
            "--vad-onset" => vad_opts.threshold = val()?.parse()?,
            "--join-gap" => join = Some(val()?.parse()?),
            "--merge" => merge = Some(val()?.parse()?),
            "--bridge" => bridge = Some(val()?.parse()?),
            "--window" => window = Some(val()?.parse()?),
            "--min-speaker" => min_speaker = Some(val()?.parse()?),
            "--step" => step = Some(val()?.parse()?),
            "--batch" => batch = Some(val()?.parse()?),
            "--torchscript" => torchscript = Some(PathBuf::from(val()?)),
            "--embeddings" => dump = true,
            "--campplus" => campplus = true,
            "--campplus-fast" => campplus_fast = true,
            "--bf16" => bf16 = Some(val()?.parse()?),
            "--segmentation" => segmentation = true,
            "--spectral" => spectral = true,
            "-h" | "--help" => {
                eprintln!("usage: diarize [--models DIR] [--threads N] [--num-speakers K] [--min-speakers K] [--max-speakers K] [--threshold T] [--vad-onset P] [--join-gap S] [--window S] [--step S] [--min-speaker S] [--batch N] [--torchscript MODEL] [--segmentation] [--spectral] [--embeddings] [--campplus | --campplus-fast] [--bf16 true|false] [--merge COSINE] [--bridge S] FILE...");
                return Ok(());
            }
            f if !f.starts_with("--") => files.push(PathBuf::from(f)),
            f => return Err(format!("unknown option {f}").into()),
        }
    }
    if let Some(t) = threads {
        tch::set_num_threads(t);
    }
    let mut config = match torchscript {
        _ if campplus_fast => DiarizerConfig::campplus_fast(&models),
        _ if campplus => DiarizerConfig::campplus(&models),
        Some(p) => DiarizerConfig::torchscript(p),
        None => DiarizerConfig::resemblyzer(&models),
    };
    // As the worker's `speaker_segmentation` does.
    if segmentation {
        config.segmentation = Some(speech::diarize::segmentation_path(&models));
    }
    if let Some(b) = bf16 {
        config.bfloat16 = b;
    }
    if let Some(j) = join {
        config.join_gap_s = j;
    }
    if merge.is_some() {
        config.merge_similarity = merge;
    }
    if let Some(b) = bridge {
        config.bridge_s = b;
    }
    if spectral {
        config.clustering = vocab::Clustering::Spectral;
    }
    if let Some(w) = window {
        config.window_s = w;
    }
    if let Some(m) = min_speaker {
        config.min_speaker_s = m;
    }
    if let Some(s) = step {
        config.step_s = s;
    }
    if let Some(b) = batch {
        config.batch_size = b;
    }
    let diarizer = Diarizer::new(config)?;
    let vad = models.join("silero-vad").join("silero_vad_windows.jit");
    for f in &files {
        let id = f.file_stem().and_then(|s| s.to_str()).unwrap_or("audio").to_string();
        if dump {
            let s = diarizer.file_feed(f, &vad, &vad_opts, None)?.into_session()?;
            for (a, b, e) in s.embeddings() {
                let v: Vec<String> = e.iter().map(|x| format!("{x:.5}")).collect();
                println!("EMB {id} {a:.3} {b:.3} {}", v.join(" "));
            }
            continue;
        }
        let t0 = Instant::now();
        let cpu0 = cpu_seconds();
        let turns = diarizer.diarize_file(f, &vad, &vad_opts, &opts, None)?;
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        for t in &turns {
            println!("SPEAKER {id} 1 {:.3} {:.3} <NA> <NA> {} <NA> <NA>", t.start, t.end - t.start, t.speaker);
        }
        // What the VAD alone costs (a transcription pipeline has already paid for it).
        let samples = speech::audio::decode_file(f)?;
        let duration = samples.len() as f64 / 16_000.0;
        let (t1, cpu1) = (Instant::now(), cpu_seconds());
        let mut silero = speech::vad::VadStream::new(speech::vad::SileroVad::load(&vad)?);
        let mut probs = Vec::new();
        silero.push(&samples, &mut probs)?;
        silero.finish(&mut probs)?;
        let (vad_wall, vad_cpu) = (t1.elapsed().as_secs_f64(), cpu_seconds() - cpu1);
        eprintln!(
            "{{\"file\": \"{id}\", \"duration_s\": {duration:.3}, \"wall_s\": {wall:.3}, \"cpu_s\": {cpu:.3}, \"vad_wall_s\": {vad_wall:.3}, \"vad_cpu_s\": {vad_cpu:.3}, \"turns\": {}}}",
            turns.len()
        );
    }
    Ok(())
}

/// Process CPU time (user + system), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
