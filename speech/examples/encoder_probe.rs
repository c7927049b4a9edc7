//! Loads a Whisper model, encodes one audio file and decodes a few greedy tokens, writing what a
//! reference implementation can be compared with (used by `scripts/bench/large-shapes.sh`).
//!
//! ```text
//! cargo run --release -p speech --example encoder_probe -- --model DIR --audio FILE --out DIR
//!     [--mel MEL.f32] [--tokens N] [--suppress ID,ID,...] [--threads N]
//! ```
//! Writes `OUT/mel.f32` (our features, [n_mels, 3000]) and `OUT/encoder.f32` ([1500, d]), both
//! raw little-endian f32; with `--mel` (features computed elsewhere, same layout) also
//! `OUT/encoder-shared.f32`. Greedy decoding starts from `<|startoftranscript|><|en|>
//! <|transcribe|><|notimestamps|>` (English-only models: without language and task), with no
//! blank suppression and only the `--suppress` ids masked. Prints one JSON line: `load_s`,
//! `n_mels`, `tokens` and (with `--mel`) `tokens_shared`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use speech::whisper::{DecodingOptions, Whisper};
use tch::{Device, Kind, Tensor};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

struct Args {
    model: PathBuf,
    audio: PathBuf,
    out: PathBuf,
    mel: Option<PathBuf>,
    tokens: usize,
    suppress: Vec<i64>,
    threads: i32,
}

fn parse_args() -> Result<Args, Box<dyn std::error::Error>> {
    let mut a = Args {
        model: PathBuf::new(),
        audio: PathBuf::new(),
        out: PathBuf::new(),
        mel: None,
        tokens: 20,
        suppress: Vec::new(),
        threads: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => a.model = value()?.into(),
            "--audio" => a.audio = value()?.into(),
            "--out" => a.out = value()?.into(),
            "--mel" => a.mel = Some(value()?.into()),
            "--tokens" => a.tokens = value()?.parse()?,
            "--threads" => a.threads = value()?.parse()?,
            "--suppress" => {
                a.suppress = value()?.split(',').filter(|s| !s.is_empty()).map(str::parse).collect::<Result<_, _>>()?
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if a.model.as_os_str().is_empty() || a.audio.as_os_str().is_empty() || a.out.as_os_str().is_empty() {
        return Err("--model, --audio and --out are required".into());
    }
    Ok(a)
}

fn write_f32(path: &Path, t: &Tensor) -> Result<(), Box<dyn std::error::Error>> {
    let v: Vec<f32> = Vec::try_from(&t.to_device(Device::Cpu).to_kind(Kind::Float).contiguous().view([-1]))?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for x in v {
        f.write_all(&x.to_le_bytes())?;
    }
    f.flush()?;
    Ok(())
}

fn read_mel(path: &Path, n_mels: i64) -> Result<Tensor, Box<dyn std::error::Error>> {
    let bytes = std::fs::read(path)?;
    let v: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    if v.len() as i64 != n_mels * 3000 {
        return Err(format!("{} holds {} floats, expected {n_mels} x 3000", path.display(), v.len()).into());
    }
    Ok(Tensor::from_slice(&v).view([1, n_mels, 3000]))
}

/// Encodes `mel` [1, n_mels, 3000], writes the states to `out` and returns the greedy tokens.
fn probe(w: &Whisper, mel: &Tensor, out: &Path, o: &DecodingOptions) -> Result<Vec<i64>, Box<dyn std::error::Error>> {
    let audio = w.encode(mel);
    write_f32(out, &audio.get(0))?;
    let r = w.decode_windows(&audio, &[30.0], &[], "en", o, &|| false)?;
    Ok(r.into_iter().next().map(|r| r.text_tokens).unwrap_or_default())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let a = parse_args()?;
    tch::set_num_threads(a.threads);
    std::fs::create_dir_all(&a.out)?;
    let t0 = Instant::now();
    let mut w = Whisper::load(&a.model, Device::Cpu)?;
    let load_s = t0.elapsed().as_secs_f64();
    // decode_windows generates at most n_text_ctx / 2 tokens; a random model rarely ends
    // on its own, so the context is narrowed to stop after `tokens` (this process only).
    w.config.n_text_ctx = 2 * a.tokens as i64;
    let o = DecodingOptions {
        language: Some("en".into()),
        beam_size: 1,
        best_of: 1,
        temperatures: vec![0.0],
        compression_ratio_threshold: None,
        log_prob_threshold: None,
        no_speech_threshold: None,
        suppress_tokens: a.suppress.clone(),
        suppress_blank: false,
        without_timestamps: true,
        ..DecodingOptions::default()
    };
    let samples = speech::audio::decode_file(&a.audio)?;
    let mel = w.features(&[&samples]);
    write_f32(&a.out.join("mel.f32"), &mel.get(0))?;
    let tokens = probe(&w, &mel, &a.out.join("encoder.f32"), &o)?;
    let shared = match &a.mel {
        Some(p) => Some(probe(&w, &read_mel(p, w.config.n_mels)?, &a.out.join("encoder-shared.f32"), &o)?),
        None => None,
    };
    let report = serde_json::json!({
        "load_s": load_s,
        "n_mels": w.config.n_mels,
        "n_vocab": w.config.n_vocab,
        "n_text_layer": w.config.n_text_layer,
        "tokens": tokens,
        "tokens_shared": shared,
    });
    println!("{report}");
    Ok(())
}
