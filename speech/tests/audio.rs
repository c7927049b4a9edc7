//! Decoding real files and broken ones. Uses the recordings under tests/data/ and the
//! `ffmpeg`/`ffprobe` tools to make and measure test files.

use std::path::{Path, PathBuf};
use std::process::Command;

use speech::audio::{decode_file, AudioError, AudioReader, SAMPLE_RATE};
use testkit::fixture;

const SR: f64 = SAMPLE_RATE as f64;

fn tool(name: &str, args: &[&str]) -> String {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name} ({e}); install FFmpeg's command-line tools"));
    assert!(out.status.success(), "{name} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn ffmpeg(args: &[&str]) {
    let mut all = vec!["-nostdin", "-v", "error", "-y"];
    all.extend_from_slice(args);
    tool("ffmpeg", &all);
}

fn ffprobe_duration(path: &Path) -> f64 {
    let args = ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path.to_str().unwrap()];
    tool("ffprobe", &args).trim().parse().expect("ffprobe prints a duration")
}

/// The AMI excerpt as the 32-bit float WAV it was published as, written into `dir`: the fixture
/// is its lossless FLAC (every sample is a 16-bit value), the WAV is for the WAV fast path.
fn float_wav(dir: &Path) -> PathBuf {
    let wav = dir.join("dev00.wav");
    ffmpeg(&["-i", fixture("ami/dev00.flac").to_str().unwrap(), "-c:a", "pcm_f32le", wav.to_str().unwrap()]);
    wav
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// Decodes `path` and checks what every decode must satisfy; returns the samples.
fn decode_ok(path: &Path) -> Vec<f32> {
    let samples = decode_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(samples.iter().all(|x| (-1.0..=1.0).contains(x)), "{}: samples outside [-1, 1]", path.display());
    assert!(rms(&samples) > 0.005, "{}: silent (rms {})", path.display(), rms(&samples));
    samples
}

fn assert_duration(samples: &[f32], expected: f64, tolerance: f64, what: &str) {
    let got = samples.len() as f64 / SR;
    assert!((got - expected).abs() <= tolerance, "{what}: decoded {got:.5} s, expected {expected:.5} s ± {tolerance}");
}

fn write_wav(path: &Path, spec: hound::WavSpec, frames: usize, sample: impl Fn(usize, usize) -> f64) {
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..frames {
        for c in 0..spec.channels as usize {
            let v = sample(i, c);
            match spec.sample_format {
                hound::SampleFormat::Float => w.write_sample(v as f32).unwrap(),
                hound::SampleFormat::Int => {
                    let full = (1i64 << (spec.bits_per_sample - 1)) as f64;
                    w.write_sample((v * full).round().clamp(-full, full - 1.0) as i32).unwrap()
                }
            }
        }
    }
    w.finalize().unwrap();
}

fn spec(channels: u16, sample_rate: u32, bits: u16, float: bool) -> hound::WavSpec {
    let sample_format = if float { hound::SampleFormat::Float } else { hound::SampleFormat::Int };
    hound::WavSpec { channels, sample_rate, bits_per_sample: bits, sample_format }
}

/// Writes a 5 s, 16 kHz, 16-bit mono tone to `path`; returns the length of its header.
fn wav_header(path: &Path) -> usize {
    let frames = 5 * 16_000;
    write_wav(path, spec(1, SAMPLE_RATE, 16, false), frames, |i, _| 0.5 * (i as f64 / 10.0).sin());
    std::fs::metadata(path).unwrap().len() as usize - 2 * frames
}

fn open_err(path: &Path) -> AudioError {
    match AudioReader::open(path) {
        Err(e) => e,
        Ok(mut reader) => loop {
            match reader.next_block() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("{} decoded without an error", path.display()),
                Err(e) => break e,
            }
        },
    }
}

#[test]
fn reader_is_send() {
    fn send<T: Send>() {}
    send::<AudioReader>();
    send::<AudioError>();
}

#[test]
fn flac_44k_stereo_resamples_to_16k_mono() {
    let path = fixture("jfk.flac");
    let samples = decode_ok(&path);
    assert_duration(&samples, 11.0, 0.002, "jfk.flac");
    assert_duration(&samples, ffprobe_duration(&path), 0.002, "jfk.flac vs ffprobe");
    let hint = AudioReader::open(&path).unwrap().duration_hint().unwrap();
    assert!((hint - 11.0).abs() < 0.01, "duration hint {hint}");
}

#[test]
fn same_samples_as_the_ffmpeg_command_whisper_runs() {
    // openai-whisper decodes with `ffmpeg -i FILE -f s16le -ac 1 -ar 16000 -`: our samples must
    // agree with that to within its 16-bit rounding, for resampled stereo FLAC and MP3 alike.
    let dir = tempfile::tempdir().unwrap();
    for name in ["jfk.flac", "librivox/sonnet1_en.mp3"] {
        let path = fixture(name);
        let raw = dir.path().join("out.s16");
        ffmpeg(&["-i", path.to_str().unwrap(), "-f", "s16le", "-ac", "1", "-ar", "16000", raw.to_str().unwrap()]);
        let bytes = std::fs::read(&raw).unwrap();
        let theirs: Vec<f32> =
            bytes.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect();
        let ours = decode_ok(&path);
        assert_eq!(ours.len(), theirs.len(), "{name}");
        let max_diff = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(max_diff < 1e-4, "{name}: differs from ffmpeg by up to {max_diff}");
    }
}

#[test]
fn float_wav_takes_the_fast_path_and_matches_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let path = float_wav(dir.path());
    let fast = decode_ok(&path);
    let probed = ffprobe_duration(&path);
    assert_duration(&fast, probed, 1.0 / SR, "dev00.wav");
    assert!((AudioReader::open(&path).unwrap().duration_hint().unwrap() - probed).abs() < 0.001);
    assert_eq!(fast, decode_ok(&fixture("ami/dev00.flac")), "the FLAC fixture holds the same samples");

    // The same samples in Matroska go through FFmpeg: they must come out the same.
    let mkv = dir.path().join("dev00.mkv");
    ffmpeg(&["-i", path.to_str().unwrap(), "-c:a", "pcm_f32le", mkv.to_str().unwrap()]);
    let slow = decode_ok(&mkv);
    assert_eq!(fast.len(), slow.len());
    let max_diff = fast.iter().zip(&slow).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(max_diff < 1e-6, "fast and FFmpeg paths differ by {max_diff}");
}

#[test]
fn int16_wavs_match_ffprobe_and_the_ffmpeg_path() {
    let names = [
        "librispeech/1089-134686-0002.wav",
        "librispeech/1221-135766-0002.wav",
        "librispeech/1995-1837-0001.wav",
        "pyannote/sample.wav",
    ];
    for name in names {
        let path = fixture(name);
        let samples = decode_ok(&path);
        assert_duration(&samples, ffprobe_duration(&path), 1.0 / SR, name);
    }
    // FLAC is lossless: decoding it with FFmpeg gives the WAV's samples back exactly.
    let path = fixture("librispeech/1221-135766-0002.wav");
    let dir = tempfile::tempdir().unwrap();
    let flac = dir.path().join("copy.flac");
    ffmpeg(&["-i", path.to_str().unwrap(), flac.to_str().unwrap()]);
    assert_eq!(decode_ok(&path), decode_ok(&flac));
}

#[test]
fn flac_at_16k_and_mp3() {
    let path = fixture("librispeech/1089-134686-0000.flac");
    assert_duration(&decode_ok(&path), ffprobe_duration(&path), 1.0 / SR, "librispeech flac");

    // ffprobe counts whole MP3 frames; the decoder drops the encoder delay and padding that the
    // LAME header declares (gapless playback), so the decode is a little shorter.
    let path = fixture("librivox/sonnet1_en.mp3");
    let samples = decode_ok(&path);
    let probed = ffprobe_duration(&path);
    let got = samples.len() as f64 / SR;
    assert!(got <= probed + 0.002 && got >= probed - 0.060, "mp3: decoded {got} s, ffprobe says {probed} s");
}

#[test]
fn wav_44k_stereo_is_resampled_and_mixed_down() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tone.wav");
    let (rate, seconds, freq) = (44_100usize, 2.5, 440.0);
    let frames = (rate as f64 * seconds) as usize;
    // Left 0.5, right 0.25 of the same sine: the mono mix is a sine of amplitude 0.375.
    write_wav(&path, spec(2, rate as u32, 16, false), frames, |i, c| {
        let s = (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin();
        if c == 0 {
            0.5 * s
        } else {
            0.25 * s
        }
    });
    let samples = decode_ok(&path);
    let expected = (seconds * SR) as i64;
    assert!((samples.len() as i64 - expected).abs() <= 2, "{} samples, expected {expected}", samples.len());
    let inner = &samples[1600..samples.len() - 1600];
    let amplitude = rms(inner) * std::f64::consts::SQRT_2;
    assert!((amplitude - 0.375).abs() < 0.005, "amplitude {amplitude}");
    let crossings = inner.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count() as f64;
    let measured = crossings / 2.0 / (inner.len() as f64 / SR);
    assert!((measured - freq).abs() < 2.0, "frequency {measured} Hz");
}

#[test]
fn upsampling_keeps_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("8k.wav");
    let frames = 8_000 * 3 + 123;
    write_wav(&path, spec(1, 8_000, 16, false), frames, |i, _| if i % 80 < 40 { 0.3 } else { -0.3 });
    let samples = decode_ok(&path);
    let expected = frames as i64 * 2;
    assert!((samples.len() as i64 - expected).abs() <= 1, "{} samples, expected {expected}", samples.len());
    // The last few milliseconds come out of the filter's flush, and they are not silence.
    assert!(rms(&samples[samples.len() - 60..]) > 0.1);
}

#[test]
fn fast_path_pcm_formats_and_many_channels() {
    let dir = tempfile::tempdir().unwrap();
    // (channels, bits, float, expected mono value) for channel c holding 0.5 - 0.25 c.
    let cases = [
        (2, 8, false, 0.375),
        (2, 16, false, 0.375),
        (3, 24, false, 0.25),
        (6, 32, false, -0.125),
        (4, 32, true, 0.125),
    ];
    for (channels, bits, float, expected) in cases {
        let path = dir.path().join(format!("c{channels}b{bits}{float}.wav"));
        write_wav(&path, spec(channels, SAMPLE_RATE, bits, float), 16_000, |_, c| 0.5 - 0.25 * c as f64);
        let samples = decode_file(&path).unwrap();
        assert_eq!(samples.len(), 16_000, "{channels} ch {bits} bit");
        let tolerance = if bits == 8 { 0.01 } else { 1e-4 };
        assert!(
            samples.iter().all(|&x| (f64::from(x) - expected).abs() < tolerance),
            "{channels} ch {bits} bit: {}",
            samples[0]
        );
    }
}

#[test]
fn float_wav_out_of_range_and_nan_samples_are_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wild.wav");
    write_wav(&path, spec(1, SAMPLE_RATE, 32, true), 4, |i, _| [3.0, -7.5, f64::NAN, f64::INFINITY][i]);
    assert_eq!(decode_file(&path).unwrap(), vec![1.0, -1.0, 0.0, 0.0]);
}

#[test]
fn streaming_hands_out_bounded_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("long.m4a");
    // Ten minutes of tone, small on disk.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=300:sample_rate=8000:duration=600",
        "-c:a",
        "aac",
        "-b:a",
        "16k",
        long.to_str().unwrap(),
    ]);
    for path in [float_wav(dir.path()), fixture("jfk.flac"), long] {
        let mut reader = AudioReader::open(&path).unwrap();
        let (mut total, mut blocks, mut largest) = (0usize, 0usize, 0usize);
        while let Some(block) = reader.next_block().unwrap() {
            assert!(!block.is_empty());
            largest = largest.max(block.len());
            total += block.len();
            blocks += 1;
        }
        assert!(reader.next_block().unwrap().is_none(), "stays at the end");
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(largest <= 100_000, "{name}: a block of {largest} samples");
        assert!(blocks as f64 >= total as f64 / 100_000.0, "{name}: {blocks} blocks for {total} samples");
        // (FFmpeg 5.1 keeps the AAC encoder's priming samples: 64 ms more than ffprobe says.)
        assert!((total as f64 / SR - ffprobe_duration(&path)).abs() < 0.1, "{name}: {total} samples");
        if name == "long.m4a" {
            assert!(blocks > 100, "{blocks} blocks for ten minutes");
        }
    }
}

#[test]
fn odd_file_names_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut names = vec![std::ffi::OsString::from("concat:a|b.flac"), "file:x.flac".into(), "sp ace ü.flac".into()];
    #[cfg(unix)]
    names.push(std::os::unix::ffi::OsStringExt::from_vec(b"latin1-\xe9.flac".to_vec()));
    for name in names {
        let path = dir.path().join(&name);
        std::fs::copy(fixture("jfk.flac"), &path).unwrap();
        assert_duration(&decode_ok(&path), 11.0, 0.002, &name.to_string_lossy());
    }
}

#[test]
fn error_codes() {
    assert_eq!(AudioError::Unsupported("x".into()).code(), "unsupported_media");
    assert_eq!(AudioError::NoAudioStream.code(), "no_audio_stream");
    assert_eq!(AudioError::Empty.code(), "empty_audio");
    assert_eq!(AudioError::EmptyFile.code(), "empty_audio");
    assert_eq!(AudioError::Io(std::io::ErrorKind::NotFound.into()).code(), "io_error");
}

#[test]
fn garbage_is_unsupported_media() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let random: Vec<u8> = (0..200_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let text = "WEBVTT? no. Just some notes.\nline two\n".repeat(50);
    let cases: [(&str, &[u8]); 5] = [
        ("random.bin", &random),
        ("random.mp3", &random),
        ("random.wav", &random),
        ("notes.txt", text.as_bytes()),
        ("notes.dat", text.as_bytes()),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = open_err(&path);
        assert_eq!(err.code(), "unsupported_media", "{name}: {err}");
        assert!(err.to_string().len() > 20, "{name}: {err}");
        assert!(matches!(decode_file(&path), Err(AudioError::Unsupported(_))), "{name}");
    }
    // A WAV header over a short body of garbage: the garbage decodes as what the header says.
    let path = dir.path().join("header.wav");
    let header = wav_header(&path);
    let mut bytes = std::fs::read(&path).unwrap()[..header].to_vec();
    bytes.extend_from_slice(&random[..1001]);
    std::fs::write(&path, bytes).unwrap();
    let samples = decode_file(&path).unwrap();
    assert_eq!(samples.len(), 500);
    assert!(samples.iter().all(|x| (-1.0..=1.0).contains(x)));
}

#[test]
fn empty_missing_and_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    let err = open_err(&empty);
    assert_eq!(err.code(), "empty_audio", "{err}");
    assert!(err.to_string().contains("empty"), "{err}");

    let err = open_err(&dir.path().join("missing.flac"));
    assert_eq!(err.code(), "io_error", "{err}");
    assert!(matches!(&err, AudioError::Io(e) if e.kind() == std::io::ErrorKind::NotFound), "{err:?}");

    let err = open_err(dir.path());
    assert_eq!(err.code(), "io_error", "{err}");
    assert!(err.to_string().contains("directory"), "{err}");
}

#[test]
fn truncated_files() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read(fixture("jfk.flac")).unwrap();

    // The first 2 KB hold only FLAC metadata: no audio to speak of.
    let path = dir.path().join("head.flac");
    std::fs::write(&path, &full[..2048]).unwrap();
    let err = open_err(&path);
    assert_eq!(err.code(), "unsupported_media", "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");

    // Cut in the middle: what is there decodes, like the ffmpeg tool does.
    let path = dir.path().join("half.flac");
    std::fs::write(&path, &full[..full.len() / 2]).unwrap();
    let samples = decode_ok(&path);
    let seconds = samples.len() as f64 / SR;
    assert!((3.0..8.0).contains(&seconds), "half of jfk.flac decoded to {seconds} s");

    // A WAV cut inside its header is not audio.
    let path = dir.path().join("header-only.wav");
    let header = wav_header(&path);
    let wav = std::fs::read(&path).unwrap();
    for cut in [12, 20, header - 1] {
        std::fs::write(&path, &wav[..cut]).unwrap();
        let err = open_err(&path);
        assert_eq!(err.code(), "unsupported_media", "cut at {cut}: {err}");
    }

    // A WAV whose header promises more than the file holds: the fast path keeps what is there.
    let path = dir.path().join("half.wav");
    let header = wav_header(&path);
    let wav = std::fs::read(&path).unwrap();
    std::fs::write(&path, &wav[..header + 16_000 * 2 * 3 + 1]).unwrap();
    assert_eq!(decode_ok(&path).len(), 16_000 * 3);
}

/// Reads a file to its end; returns the reader for [`AudioReader::damage`].
fn read_all(path: &Path) -> (AudioReader, usize) {
    let mut reader = AudioReader::open(path).unwrap();
    let mut samples = 0;
    while let Some(block) = reader.next_block().unwrap() {
        samples += block.len();
    }
    (reader, samples)
}

/// Broken files are named for what is wrong with them, never as a disk fault or a codec problem.
#[test]
fn broken_files_say_what_is_wrong_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read(fixture("jfk.flac")).unwrap();
    for cut in [4, 42, 60, 200] {
        let path = dir.path().join(format!("cut{cut}.flac"));
        std::fs::write(&path, &full[..cut]).unwrap();
        let err = open_err(&path);
        assert_eq!(err.code(), "unsupported_media", "{cut} bytes: {err}");
        let message = err.to_string();
        assert!(!message.contains("os error") && !message.contains("Input/output"), "{cut} bytes: {message}");
    }

    // A WAV header that declares no channels.
    let path = dir.path().join("no-channels.wav");
    wav_header(&path);
    let mut wav = std::fs::read(&path).unwrap();
    wav[22..24].copy_from_slice(&0u16.to_le_bytes());
    std::fs::write(&path, &wav).unwrap();
    let err = open_err(&path);
    assert_eq!(err.code(), "unsupported_media", "{err}");
    assert!(err.to_string().contains("WAV header is invalid") && err.to_string().contains("zero channels"), "{err}");
}

/// A file that decodes only in part says so, measured against the length it announces; a sound
/// file says nothing.
#[test]
fn damage_is_measured_against_the_announced_length() {
    let dir = tempfile::tempdir().unwrap();
    let (sound, samples) = read_all(&fixture("jfk.flac"));
    assert!(samples > 10 * 16_000);
    assert_eq!(sound.damage(), None);

    let full = std::fs::read(fixture("jfk.flac")).unwrap();
    let path = dir.path().join("half.flac");
    std::fs::write(&path, &full[..full.len() / 2]).unwrap();
    let (reader, _) = read_all(&path);
    let damage = reader.damage().expect("a cut FLAC is reported");
    assert!(damage.contains("of the 11.0 s the file announces"), "{damage}");

    // Bits flipped all through the audio frames (the header intact).
    let mut flipped = full.clone();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..200 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let at = 8192 + (state as usize % (full.len() - 8192));
        flipped[at] ^= 1 << (state >> 60);
    }
    let path = dir.path().join("flipped.flac");
    std::fs::write(&path, &flipped).unwrap();
    let mut reader = AudioReader::open(&path).unwrap();
    while let Ok(Some(_)) = reader.next_block() {}
    assert!(reader.damage().is_some(), "a damaged FLAC is reported");

    let path = dir.path().join("half.wav");
    let header = wav_header(&path);
    let wav = std::fs::read(&path).unwrap();
    std::fs::write(&path, &wav[..header + 16_000 * 2 * 2]).unwrap();
    let (reader, samples) = read_all(&path);
    assert_eq!(samples, 2 * 16_000);
    let damage = reader.damage().expect("a WAV shorter than its header is reported");
    assert!(damage.contains("only 2.0 s of audio could be decoded of the 5.0 s"), "{damage}");
}

#[test]
fn media_without_audio() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("video.mp4");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc=duration=1:size=64x64:rate=5", "-an", video.to_str().unwrap()]);
    let image = dir.path().join("image.png");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc=duration=1:size=64x64:rate=5", "-frames:v", "1", image.to_str().unwrap()]);
    for path in [video, image] {
        let err = open_err(&path);
        assert!(matches!(err, AudioError::NoAudioStream), "{}: {err:?}", path.display());
        assert_eq!(err.code(), "no_audio_stream");
        assert!(err.to_string().contains("no audio"), "{err}");
    }
}

#[test]
fn zero_length_audio_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    // (`-t 0` into an .m4a writes no track at all, and into .ogg no pages: not audio files.)
    for ext in ["wav", "flac"] {
        let path = dir.path().join(format!("zero.{ext}"));
        ffmpeg(&["-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo", "-t", "0", path.to_str().unwrap()]);
        paths.push(path);
    }
    let hound_wav = dir.path().join("zero16k.wav");
    write_wav(&hound_wav, spec(1, SAMPLE_RATE, 16, false), 0, |_, _| 0.0);
    paths.push(hound_wav);
    for path in paths {
        let mut reader = AudioReader::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(reader.next_block().unwrap().is_none(), "{}", path.display());
        let err = decode_file(&path).unwrap_err();
        assert!(matches!(err, AudioError::Empty), "{}: {err:?}", path.display());
        assert_eq!(err.code(), "empty_audio");
    }
}
