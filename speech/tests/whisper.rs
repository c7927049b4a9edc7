//! Whisper end to end on the shipped weights (install them with scripts/setup-models.sh).
//!
//! On the CPU by default; `SPEECH_TEST_DEVICE=cuda` runs them on the first GPU in float16
//! (`scripts/bench/gpu.sh` does).

use std::path::{Path, PathBuf};

use speech::whisper::{DecodingOptions, Precision, Whisper};
use testkit::TestDevice;

fn models_dir() -> PathBuf {
    for m in ["whisper-tiny.en/model.bin", "whisper-base/model.bin", "silero-vad/silero_vad_windows.jit"] {
        testkit::model(m);
    }
    testkit::models_dir()
}

/// The device the tests run on. Asking for CUDA where there is none fails here with the reason,
/// rather than quietly testing the CPU.
fn device() -> tch::Device {
    match testkit::test_device() {
        TestDevice::Cpu => tch::Device::Cpu,
        TestDevice::Cuda => {
            if let Some(reason) = speech::cuda::unavailable_reason() {
                panic!("{}=cuda, but CUDA is not available: {reason}", testkit::SPEECH_TEST_DEVICE);
            }
            tch::Device::Cuda(0)
        }
    }
}

/// The same device as the pipeline's configuration names it.
fn pipeline_device() -> vocab::Device {
    if device().is_cuda() {
        vocab::Device::Cuda(Some(0))
    } else {
        vocab::Device::Cpu
    }
}

const JFK: &str =
    "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";

#[test]
fn jfk_tiny_en_greedy_single_window() {
    let model = Whisper::load(&models_dir().join("whisper-tiny.en"), device()).unwrap();
    let audio = speech::audio::decode_file(&testkit::fixture("jfk.flac")).unwrap();
    let mel = model.features(&[&audio]);
    let enc = model.encode(&mel);
    let opts = DecodingOptions { beam_size: 1, ..Default::default() };
    let out = model.decode_windows(&enc, &[audio.len() as f64 / 16000.0], &[], "en", &opts, &|| false).unwrap();
    let segs = &out[0].segments;
    let text: Vec<&str> = segs.iter().map(|s| s.text.trim()).collect();
    let text = text.join(" ");
    // tiny.en does not produce the reference's commas; the words must be exact.
    assert_eq!(normalize(&text), normalize(JFK), "got {text:?}");
    assert_eq!(segs.len(), 2);
    if device().is_cuda() {
        // float16 rounds differently from faster-whisper's float32 reference below: the words
        // must be the same, the times and the score close. These tolerances are not measured yet
        // (no GPU has run them): widen them only with the figures of a run.
        eprintln!(
            "CUDA float16: the exact text is checked on the CPU only; times and score within tolerances: {segs:?}"
        );
        assert!((segs[0].end - 7.74).abs() < 0.1 && (segs[1].end - 10.74).abs() < 0.1, "{segs:?}");
        assert!((segs[0].avg_logprob + 0.3775).abs() < 0.05, "{segs:?}");
        return;
    }
    // faster-whisper 1.x (same weights, float32, beam 1, timestamps) gives exactly these segments.
    assert_eq!(
        text,
        "And so my fellow Americans ask not what your country can do for you ask what you can do for your country"
    );
    assert!((segs[0].end - 7.74).abs() < 1e-6 && (segs[1].end - 10.74).abs() < 1e-6, "{segs:?}");
    assert!((segs[0].avg_logprob + 0.3775).abs() < 2e-3, "{segs:?}");
}

/// int8 and bfloat16 round differently from float32 but must read the same words, with close
/// scores (the README's accuracy table measures them on the whole development set).
#[test]
fn jfk_reads_the_same_in_every_cpu_compute_type() {
    let audio = speech::audio::decode_file(&testkit::fixture("jfk.flac")).unwrap();
    let read = |precision| {
        let model = Whisper::load_as(&models_dir().join("whisper-tiny.en"), tch::Device::Cpu, precision).unwrap();
        let enc = model.encode(&model.features(&[&audio]));
        let opts = DecodingOptions { beam_size: 5, ..Default::default() };
        let out = model.decode_windows(&enc, &[audio.len() as f64 / 16000.0], &[], "en", &opts, &|| false).unwrap();
        let text: Vec<String> = out[0].segments.iter().map(|s| s.text.trim().to_string()).collect();
        (normalize(&text.join(" ")), out[0].segments[0].avg_logprob)
    };
    let (text, logprob) = read(Precision::FLOAT32);
    assert_eq!(text, normalize(JFK));
    for precision in [Precision::INT8, Precision::BFLOAT16] {
        let (t, lp) = read(precision);
        assert_eq!(t, text, "{precision:?}");
        assert!((lp - logprob).abs() < 0.05, "{precision:?}: avg_logprob {lp} vs float32 {logprob}");
    }
}

fn normalize(s: &str) -> String {
    let s: String = s.to_lowercase().chars().map(|c| if c.is_alphanumeric() || c == '\'' { c } else { ' ' }).collect();
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------------
// Through the Pipeline: VAD, chunking, batching, streaming.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use speech::{Observer, Pipeline, PipelineConfig, Stage};
use vocab::Options;

#[derive(Default)]
struct TestObserver {
    cancel: AtomicBool,
    cancel_after_batches: Option<usize>,
    transcribe_reports: AtomicUsize,
    cancelled_at: Mutex<Option<Instant>>,
    stages: Mutex<Vec<Stage>>,
}

impl Observer for TestObserver {
    fn progress(&self, stage: Stage, _fraction: f64) {
        let mut s = self.stages.lock().unwrap();
        if s.last() != Some(&stage) {
            s.push(stage);
        }
        if stage == Stage::Transcribe {
            let n = self.transcribe_reports.fetch_add(1, Ordering::SeqCst) + 1;
            if self.cancel_after_batches.is_some_and(|k| n >= k) && !self.cancel.swap(true, Ordering::SeqCst) {
                *self.cancelled_at.lock().unwrap() = Some(Instant::now());
            }
        }
    }
    fn log(&self, stage: Stage, message: &str) {
        eprintln!("[{}] {message}", stage.as_str());
    }
    fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
}

fn pipeline() -> Pipeline {
    let device = pipeline_device();
    Pipeline::new(PipelineConfig { models_dir: models_dir(), device: Some(device), ..Default::default() })
        .unwrap_or_else(|e| panic!("a pipeline on {device}: {e}"))
}

/// Reads tests/data/asr.tsv: (id, audio path, language, reference).
fn manifest() -> Vec<(String, PathBuf, String, String)> {
    let text = std::fs::read_to_string(testkit::fixture("asr.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() >= 4).then(|| (f[0].to_string(), testkit::fixture(f[1]), f[2].to_string(), f[3].to_string()))
        })
        .collect()
}

fn wer(reference: &str, hypothesis: &str) -> f64 {
    let r: Vec<String> = normalize(reference).split(' ').map(String::from).collect();
    let h: Vec<String> = normalize(hypothesis).split(' ').map(String::from).collect();
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for i in 1..=r.len() {
        let mut cur = vec![i; h.len() + 1];
        for j in 1..=h.len() {
            let sub = prev[j - 1] + usize::from(r[i - 1] != h[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        prev = cur;
    }
    prev[h.len()] as f64 / r.len().max(1) as f64
}

/// Concatenates the English LibriSpeech/LibriVox recordings `repeat` times with 1.5 s of
/// silence between them into a 16 kHz WAV; returns its path and the reference text.
fn long_wav(dir: &Path, repeat: usize) -> (PathBuf, String) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let path = dir.join("long.wav");
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    let mut refs = Vec::new();
    let items: Vec<_> =
        manifest().into_iter().filter(|(id, ..)| id.starts_with("ls-") || id.starts_with("austen-")).collect();
    for _ in 0..repeat {
        for (_, audio, _, reference) in &items {
            for s in speech::audio::decode_file(audio).unwrap() {
                w.write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16).unwrap();
            }
            for _ in 0..24000 {
                w.write_sample(0i16).unwrap();
            }
            refs.push(reference.clone());
        }
    }
    w.finalize().unwrap();
    (path, refs.join(" "))
}

#[test]
fn pipeline_jfk_tiny_en() {
    let p = pipeline();
    let obs = TestObserver::default();
    let opts = Options { beam_size: Some(1), ..Default::default() };
    let t = p.run(&testkit::fixture("jfk.flac"), &opts, &obs).unwrap();
    assert_eq!(normalize(&t.text()), normalize(JFK), "{t:?}");
    assert_eq!(t.language.as_deref(), Some("en"));
    assert!((t.duration - 11.0).abs() < 0.01);
    assert!(t.note.is_none() && t.word_segments.is_empty());
    let stages = obs.stages.lock().unwrap().clone();
    assert!(stages.contains(&Stage::Vad) && stages.contains(&Stage::Transcribe), "{stages:?}");
}

/// A file cut short transcribes what is there and says, in the transcript's note, how much of
/// what it announced could be decoded.
#[test]
fn a_truncated_file_transcribes_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read(testkit::fixture("jfk.flac")).unwrap();
    let cut = dir.path().join("cut.flac");
    std::fs::write(&cut, &full[..full.len() * 6 / 10]).unwrap();
    let opts = Options { beam_size: Some(1), ..Default::default() };
    let t = pipeline().run(&cut, &opts, &TestObserver::default()).unwrap();
    assert!(normalize(&t.text()).starts_with("and so my fellow americans"), "{t:?}");
    let note = t.note.expect("a note on the truncation");
    assert!(note.contains("of the 11.0 s the file announces") && note.contains("truncated"), "{note}");
}

#[test]
fn long_audio_streams_through_vad_chunks_and_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (wav, reference) = long_wav(dir.path(), 2);
    let p = pipeline();
    let obs = TestObserver::default();
    let opts = Options { beam_size: Some(1), batch_size: Some(4), ..Default::default() };
    let started = Instant::now();
    let t = p.run(&wav, &opts, &obs).unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let w = wer(&reference, &t.text());
    eprintln!("{:.1} s of audio in {elapsed:.1} s, {} segments, WER {:.3}", t.duration, t.segments.len(), w);
    assert!(t.duration > 150.0, "{}", t.duration);
    eprintln!("REF {}\nHYP {}", normalize(&reference), normalize(&t.text()));
    assert!(w < 0.12, "WER {w}: {}", t.text());
    let mut last = 0.0;
    for s in &t.segments {
        assert!(s.start >= last - 0.5 && s.end >= s.start && s.end <= t.duration + 0.01, "{s:?} after {last}");
        last = s.start;
    }
    assert!(t.segments.last().unwrap().end > t.duration - 30.0, "segments carry absolute times");
}

#[test]
fn cancel_takes_effect_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let (wav, _) = long_wav(dir.path(), 2);
    let p = pipeline();
    let obs = TestObserver { cancel_after_batches: Some(1), ..Default::default() };
    let opts = Options { beam_size: Some(5), batch_size: Some(2), ..Default::default() };
    let err = p.run(&wav, &opts, &obs).unwrap_err();
    let at = obs.cancelled_at.lock().unwrap().expect("cancel was requested");
    assert_eq!(err.code(), "canceled");
    assert!(at.elapsed().as_secs_f64() < 2.0, "cancel took {:?}", at.elapsed());
}

#[test]
fn missing_and_invalid_models_are_typed_errors() {
    let p = pipeline();
    let obs = TestObserver::default();
    let e = p
        .run(
            &testkit::fixture("jfk.flac"),
            &Options { model: Some("no-such-model".into()), ..Default::default() },
            &obs,
        )
        .unwrap_err();
    assert_eq!(e.code(), "model_not_found", "{e}");
    let dir = tempfile::tempdir().unwrap();
    let src = models_dir().join("whisper-tiny.en");
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let e = p
        .run(
            &testkit::fixture("jfk.flac"),
            &Options { model: Some(dir.path().display().to_string()), ..Default::default() },
            &obs,
        )
        .unwrap_err();
    assert_eq!(e.code(), "model_invalid", "{e}");
    assert!(e.to_string().contains("unknown layout"), "{e}");
    let bytes = std::fs::read(src.join("model.bin")).unwrap();
    std::fs::write(dir.path().join("model.bin"), &bytes[..bytes.len() / 3]).unwrap();
    let e = Whisper::load(dir.path(), device()).err().expect("truncated model must fail");
    assert!(e.to_string().contains("truncated"), "{e}");
    assert_eq!(e.code(), "model_invalid");
}

// ---------------------------------------------------------------------------------------------
// Hugging Face transformers layout: the tiny.en weights rewritten as `model.safetensors`
// with transformers' names (q/k/v split, no key bias) must transcribe exactly like the original.

fn write_hf_dir(dir: &Path) {
    let src = models_dir().join("whisper-tiny.en");
    let ct2 = speech::whisper::load_ct2(&src.join("model.bin")).unwrap();
    let v = &ct2.variables;
    let mut out: Vec<(String, tch::Tensor)> = Vec::new();
    let mut put =
        |name: String, t: &tch::Tensor| out.push((format!("model.{name}"), t.to_kind(tch::Kind::Half).contiguous()));
    let (d, n_enc, n_dec) = (384i64, 4, 4);
    for (hf, c) in [
        ("encoder.conv1.weight", "encoder/conv1/weight"),
        ("encoder.conv1.bias", "encoder/conv1/bias"),
        ("encoder.conv2.weight", "encoder/conv2/weight"),
        ("encoder.conv2.bias", "encoder/conv2/bias"),
        ("encoder.embed_positions.weight", "encoder/position_encodings/encodings"),
        ("encoder.layer_norm.weight", "encoder/layer_norm/gamma"),
        ("encoder.layer_norm.bias", "encoder/layer_norm/beta"),
        ("decoder.embed_tokens.weight", "decoder/embeddings/weight"),
        ("decoder.embed_positions.weight", "decoder/position_encodings/encodings"),
        ("decoder.layer_norm.weight", "decoder/layer_norm/gamma"),
        ("decoder.layer_norm.bias", "decoder/layer_norm/beta"),
    ] {
        put(hf.into(), &v[c]);
    }
    for (side, n) in [("encoder", n_enc), ("decoder", n_dec)] {
        for i in 0..n {
            let (h, c) = (format!("{side}.layers.{i}"), format!("{side}/layer_{i}"));
            let w = v[&format!("{c}/self_attention/linear_0/weight")].split(d, 0);
            let b = v[&format!("{c}/self_attention/linear_0/bias")].split(d, 0);
            put(format!("{h}.self_attn.q_proj.weight"), &w[0]);
            put(format!("{h}.self_attn.q_proj.bias"), &b[0]);
            put(format!("{h}.self_attn.k_proj.weight"), &w[1]);
            put(format!("{h}.self_attn.v_proj.weight"), &w[2]);
            put(format!("{h}.self_attn.v_proj.bias"), &b[2]);
            let pairs = [
                ("self_attn.out_proj", "self_attention/linear_1"),
                ("fc1", "ffn/linear_0"),
                ("fc2", "ffn/linear_1"),
                ("encoder_attn.q_proj", "attention/linear_0"),
                ("encoder_attn.out_proj", "attention/linear_2"),
            ];
            for (a, b) in pairs {
                if side == "encoder" && a.starts_with("encoder_attn") {
                    continue;
                }
                put(format!("{h}.{a}.weight"), &v[&format!("{c}/{b}/weight")]);
                put(format!("{h}.{a}.bias"), &v[&format!("{c}/{b}/bias")]);
            }
            for (a, b) in [
                ("self_attn_layer_norm", "self_attention"),
                ("final_layer_norm", "ffn"),
                ("encoder_attn_layer_norm", "attention"),
            ] {
                if side == "encoder" && a.starts_with("encoder_attn") {
                    continue;
                }
                put(format!("{h}.{a}.weight"), &v[&format!("{c}/{b}/layer_norm/gamma")]);
                put(format!("{h}.{a}.bias"), &v[&format!("{c}/{b}/layer_norm/beta")]);
            }
            if side == "decoder" {
                let kv = v[&format!("{c}/attention/linear_1/weight")].split(d, 0);
                let kvb = v[&format!("{c}/attention/linear_1/bias")].split(d, 0);
                put(format!("{h}.encoder_attn.k_proj.weight"), &kv[0]);
                put(format!("{h}.encoder_attn.v_proj.weight"), &kv[1]);
                put(format!("{h}.encoder_attn.v_proj.bias"), &kvb[1]);
            }
        }
    }
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = out
        .iter()
        .map(|(n, t)| {
            let mut b = vec![0u8; t.numel() * 2];
            t.copy_data_u8(&mut b, t.numel());
            (n.clone(), b, t.size().iter().map(|x| *x as usize).collect())
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(n, b, s)| {
            (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F16, s.clone(), b).unwrap())
        })
        .collect();
    safetensors::serialize_to_file(views, &None, &dir.join("model.safetensors")).unwrap();
    let config = serde_json::json!({
        "model_type": "whisper", "num_mel_bins": 80, "d_model": d, "vocab_size": 51864,
        "encoder_layers": n_enc, "encoder_attention_heads": 6, "decoder_layers": n_dec, "decoder_attention_heads": 6,
        "max_source_positions": 1500, "max_target_positions": 448,
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let ct2_config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    let generation = serde_json::json!({ "suppress_tokens": ct2_config["suppress_ids"] });
    std::fs::write(dir.join("generation_config.json"), generation.to_string()).unwrap();
    std::fs::copy(src.join("tokenizer.json"), dir.join("tokenizer.json")).unwrap();
}

#[test]
fn hf_safetensors_directory_transcribes_like_ctranslate2() {
    let dir = tempfile::tempdir().unwrap();
    write_hf_dir(dir.path());
    let p = pipeline();
    let obs = TestObserver::default();
    let opts = Options { beam_size: Some(1), ..Default::default() };
    let ct2 = p.run(&testkit::fixture("jfk.flac"), &opts, &obs).unwrap();
    let hf_opts = Options { model: Some(dir.path().display().to_string()), ..opts };
    let hf = p.run(&testkit::fixture("jfk.flac"), &hf_opts, &obs).unwrap();
    assert_eq!(hf.text(), ct2.text());
    assert_eq!(hf.segments.len(), ct2.segments.len());
    for (a, b) in hf.segments.iter().zip(&ct2.segments) {
        assert!((a.avg_logprob - b.avg_logprob).abs() < 1e-3 && a.end == b.end, "{a:?} vs {b:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Multilingual model: language detection, allowed_languages, unsupported languages.
// (The evaluation set holds English recordings only.)

#[test]
fn base_detects_language_and_honours_allowed_languages() {
    let p = pipeline();
    let obs = TestObserver::default();
    let jfk = testkit::fixture("jfk.flac");
    let base = Options { model: Some("base".into()), beam_size: Some(5), ..Default::default() };
    let t = p.run(&jfk, &base, &obs).unwrap();
    assert_eq!(t.language.as_deref(), Some("en"));
    assert_eq!(normalize(&t.text()), normalize(JFK), "{t:?}");

    let restricted = Options { allowed_languages: Some(vec!["de".into(), "fr".into()]), ..base.clone() };
    let t = p.run(&jfk, &restricted, &obs).unwrap();
    let lang = t.language.clone().unwrap();
    assert!(lang == "de" || lang == "fr", "{lang}");

    let e = p.run(&jfk, &Options { language: Some("xx".into()), ..base.clone() }, &obs).unwrap_err();
    assert_eq!(e.code(), "unsupported_language");
    let e = p
        .run(
            &jfk,
            &Options { language: Some("en".into()), allowed_languages: Some(vec!["de".into()]), ..base.clone() },
            &obs,
        )
        .unwrap_err();
    assert_eq!(e.code(), "unsupported_language");
    let e = p.run(&jfk, &Options { language: Some("de".into()), ..Default::default() }, &obs).unwrap_err();
    assert_eq!(e.code(), "unsupported_language", "tiny.en is English-only");
}

// ---------------------------------------------------------------------------------------------
// Word timestamps.

/// Words lie inside their segment, in order, never overlapping, and join back to its text.
fn assert_words_fit(t: &transcript::Transcript) {
    let mut flat = Vec::new();
    for s in &t.segments {
        assert!(!s.words.is_empty(), "segment without words: {s:?}");
        let mut floor = s.start;
        for w in &s.words {
            assert!(w.start >= floor - 1e-9 && w.end >= w.start && w.end <= s.end + 1e-9, "{w:?} in {s:?}");
            assert!((0.0..=1.0).contains(&w.score), "{w:?}");
            assert_eq!(w.word, w.word.trim(), "{w:?}");
            floor = w.end;
        }
        let joined: Vec<&str> = s.words.iter().map(|w| w.word.as_str()).collect();
        assert_eq!(joined.join(" "), s.text.trim());
        flat.extend(s.words.iter().cloned());
    }
    assert_eq!(t.word_segments, flat);
}

#[test]
fn jfk_word_timestamps() {
    let p = pipeline();
    let obs = TestObserver::default();
    let opts = Options { word_timestamps: true, ..Default::default() };
    let t = p.run(&testkit::fixture("jfk.flac"), &opts, &obs).unwrap();
    assert_words_fit(&t);
    let americans = t.word_segments.iter().find(|w| w.word.starts_with("Americans")).expect("Americans");
    // openai-whisper's own test of word timing on this file.
    assert!(americans.start <= 1.8, "{americans:?}");
    assert!(americans.end > americans.start && americans.end < 3.5, "{americans:?}");
    let country = t.word_segments.last().unwrap();
    assert!(country.word.starts_with("country") && (country.end - 10.4).abs() < 0.7, "{country:?}");
    // Without the option the transcript has no words (and the same text).
    let plain = p.run(&testkit::fixture("jfk.flac"), &Options::default(), &obs).unwrap();
    assert!(plain.word_segments.is_empty() && plain.segments.iter().all(|s| s.words.is_empty()));
    assert_eq!(normalize(&plain.text()), normalize(&t.text()));
}

#[test]
fn word_timestamps_on_long_batched_audio() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = long_wav(dir.path(), 4);
    let p = pipeline();
    let obs = TestObserver::default();
    let opts = Options { word_timestamps: true, batch_size: Some(4), beam_size: Some(1), ..Default::default() };
    let t = p.run(&path, &opts, &obs).unwrap();
    assert!(t.segments.len() >= 4, "{t:?}");
    assert_words_fit(&t);
    for pair in t.word_segments.windows(2) {
        assert!(pair[0].start <= pair[1].start + 1e-9, "{pair:?}");
    }
}

/// Segments reach the observer as they become final, in order, and add up to the transcript.
#[test]
fn segments_are_released_in_order_as_they_finish() {
    #[derive(Default)]
    struct Collect(Mutex<Vec<Vec<transcript::Segment>>>);
    impl Observer for Collect {
        fn progress(&self, _: Stage, _: f64) {}
        fn log(&self, _: Stage, _: &str) {}
        fn is_cancelled(&self) -> bool {
            false
        }
        fn segments(&self, segments: &[transcript::Segment]) {
            self.0.lock().unwrap().push(segments.to_vec());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = long_wav(dir.path(), 4);
    let obs = Collect::default();
    let opts = Options { batch_size: Some(2), beam_size: Some(1), ..Default::default() };
    let t = pipeline().run(&path, &opts, &obs).unwrap();
    let calls = obs.0.into_inner().unwrap();
    assert!(calls.len() >= 2, "released in one piece: {calls:?}");
    let streamed: Vec<transcript::Segment> = calls.into_iter().flatten().collect();
    assert_eq!(streamed, t.segments);
}

/// Speech in another language, synthesised by espeak-ng (installed by scripts/setup.sh): the
/// fixtures hold English only.
fn synthesise(dir: &Path, voice: &str, text: &str) -> PathBuf {
    let path = dir.join(format!("{voice}.wav"));
    let status = std::process::Command::new("espeak-ng")
        .args(["-v", voice, "-s", "150", "-w"])
        .arg(&path)
        .arg(text)
        .status()
        .expect("espeak-ng is missing: run scripts/setup.sh");
    assert!(status.success());
    path
}

#[test]
fn base_detects_non_english_languages() {
    let dir = tempfile::tempdir().unwrap();
    let samples = [
        ("de", "Die Bundesregierung hat am Mittwoch beschlossen, die Förderung für erneuerbare Energien deutlich zu erhöhen. Nach Angaben des Ministeriums sollen vor allem kleine Unternehmen und Haushalte davon profitieren."),
        ("fr", "Le gouvernement a annoncé mercredi une nouvelle aide pour les petites entreprises. Selon le ministère, les familles pourront également en profiter dès le mois prochain."),
        ("es", "El gobierno anunció el miércoles un nuevo plan para apoyar a las pequeñas empresas. Según el ministerio, las familias también podrán beneficiarse a partir del próximo mes."),
    ];
    let p = pipeline();
    let obs = TestObserver::default();
    let base = Options { model: Some("base".into()), beam_size: Some(1), ..Default::default() };
    for (lang, text) in samples {
        let t = p.run(&synthesise(dir.path(), lang, text), &base, &obs).unwrap();
        assert_eq!(t.language.as_deref(), Some(lang), "{t:?}");
        assert!(!t.text().trim().is_empty());
    }
}

/// Presets name devices in order of preference and a compute type; the pipeline takes the first
/// device this machine has and refuses what it cannot do.
#[test]
fn device_preferences_and_compute_types_resolve_on_this_machine() {
    let p = pipeline();
    let with = |device: Option<&[&str]>, ct: Option<&str>| Options {
        device: device.map(|d| d.iter().map(|s| s.parse().unwrap()).collect()),
        compute_type: ct.map(|c| c.parse().unwrap()),
        ..Default::default()
    };
    // speech::cuda loads libtorch's CUDA library where a driver is present (tch alone says no).
    let cuda = speech::cuda::is_available();
    let (device, precision) = p.placement(&with(Some(&["cuda", "cpu"]), Some("float32"))).unwrap();
    assert_eq!(device.is_cuda(), cuda);
    assert_eq!(precision, Precision::FLOAT32);
    let (_, precision) = p.placement(&with(Some(&["cuda", "cpu"]), None)).unwrap();
    assert_eq!(precision, if cuda { Precision::FLOAT16 } else { Precision::FLOAT32 });
    // float16 on a CPU computes in float32, as CTranslate2 does; int8 is int8 weights over float32.
    let (_, precision) = p.placement(&with(Some(&["cpu"]), Some("float16"))).unwrap();
    assert_eq!(precision, Precision::FLOAT32);
    let (_, precision) = p.placement(&with(Some(&["cpu"]), Some("int8"))).unwrap();
    assert_eq!(precision, Precision::INT8);
    // Unknown names (`int4`, `tpu`) are refused where they are parsed (vocab), before a run.
    if !cuda {
        assert_eq!(p.placement(&with(Some(&["cuda"]), None)).unwrap_err().code(), "invalid_device");
    }
    // A run with the preferences goes through.
    let t =
        p.run(&testkit::fixture("jfk.flac"), &with(Some(&["cuda", "cpu"]), Some("float32")), &TestObserver::default());
    assert_eq!(normalize(&t.unwrap().text()), normalize(JFK));
}

#[test]
fn dropping_models_empties_the_cache() {
    let p = pipeline();
    p.model(Some("tiny.en")).unwrap();
    assert_eq!(p.cached_models(), 1);
    assert_eq!(p.drop_models(), 1);
    assert_eq!(p.cached_models(), 0);
    p.model(Some("tiny.en")).unwrap();
    assert_eq!(p.cached_models(), 1, "loads again on the next job");
}

/// The batched VAD gives the probabilities of the wheel's Silero run window by window, whatever
/// pieces the audio arrives in.
/// The VAD runs on the CPU whatever the device (`SileroVad::load` takes none), so this test does
/// too under `SPEECH_TEST_DEVICE=cuda`.
#[test]
fn batched_vad_matches_silero_window_by_window() {
    use speech::vad::{SileroVad, VadStream, WINDOW};
    let audio = speech::audio::decode_file(&testkit::fixture("ami/dev00.flac")).unwrap();
    let original = tch::CModule::load(models_dir().join("silero-vad/silero_vad.jit")).unwrap();
    let _no_grad = tch::no_grad_guard();
    let expected: Vec<f32> = audio
        .chunks(WINDOW)
        .map(|w| {
            let mut w = w.to_vec();
            w.resize(WINDOW, 0.0);
            let x = tch::Tensor::from_slice(&w).view([1, WINDOW as i64]);
            let out = original.forward_is(&[tch::IValue::Tensor(x), tch::IValue::Int(16_000)]).unwrap();
            let tch::IValue::Tensor(p) = out else { panic!("not a tensor") };
            p.double_value(&[0, 0]) as f32
        })
        .collect();
    let vad = SileroVad::load(&models_dir().join("silero-vad/silero_vad_windows.jit")).unwrap();
    let mut stream = VadStream::new(vad);
    let mut got = Vec::new();
    for piece in audio.chunks(3001) {
        stream.push(piece, &mut got).unwrap();
    }
    stream.finish(&mut got).unwrap();
    assert_eq!(got.len(), expected.len());
    let worst = got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "largest difference {worst}");
    assert!(expected.iter().any(|p| *p > 0.9) && expected.iter().any(|p| *p < 0.1), "speech and silence both occur");
}

/// A recording of the broader development set's `tune` split (benchdata/asr/).
fn tune_recording(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../benchdata/asr/audio").join(path)
}

/// A child's unclear sentence on which tiny.en loops ("thank you very much" five times with
/// timestamps, other loops at every sampling temperature): the repetition guard must catch it
/// (zlib's compression ratio) and the fallback must end on a text that does not repeat itself.
#[test]
fn a_looping_window_ends_without_repetition() {
    let opts = Options { language: Some("en".into()), ..Default::default() };
    let file = tune_recording("speechocean762-train/096130014.opus");
    let t = pipeline().run(&file, &opts, &TestObserver::default()).unwrap();
    let text = t.text();
    let words = normalize(&text).split(' ').filter(|w| !w.is_empty()).count();
    // The reference has 10 words ("he was he admitted never very good with his hands").
    assert!(words <= 12, "{words} words: {text}");
    assert!(speech::whisper::compression_ratio(text.trim()) <= 2.4, "{text}");
}
