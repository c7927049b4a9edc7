//! Decoding any audio file to 16 kHz mono f32, as a stream.
//!
//! [`AudioReader`] hands out blocks of at most three seconds of samples, so memory stays flat
//! however long the file is. Two paths lead there:
//!
//! - WAV files that are already 16 kHz, PCM integer (8, 16, 24, 32 bit) or 32-bit float, are read
//!   with `hound`, which is quick and needs no codec set-up.
//! - Everything else goes through FFmpeg (`ffmpeg-next`): any container and codec it knows. The
//!   first (best) audio stream is decoded; packets that fail to decode are skipped, as the
//!   `ffmpeg` tool does, and the file is only rejected when nothing at all could be decoded.
//!   Resampling uses swresample's windowed-sinc filter and its tail is flushed at the end.
//!
//! Both paths mix channels down by averaging them (what `ffmpeg -ac 1` does for stereo when
//! writing 16-bit PCM, as openai-whisper asks it to), replace NaN and infinite samples with
//! silence and clamp the result to [-1, 1].

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Once;

use ffmpeg::util::error::{EACCES, EAGAIN, EIO, EISDIR, ENODEV, ENOENT, ENXIO, EPERM};
use ffmpeg::{codec, format, frame, media, software::resampling, ChannelLayout, Error as FfError};
use ffmpeg_next as ffmpeg;

/// The sample rate of every block (16 kHz).
pub use crate::dsp::SAMPLE_RATE;

/// The size of the blocks [`AudioReader::next_block`] returns (the last one may be shorter):
/// three seconds.
const BLOCK_SAMPLES: usize = 3 * SAMPLE_RATE as usize;

/// Why a file could not be decoded. Messages are written for the person who sent the file.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// Not a media file, corrupt, truncated before any audio, or an unknown codec.
    #[error("{0}")]
    Unsupported(String),
    /// A media file without sound: a video without an audio track, an image, subtitles.
    #[error("the file has no audio track (it may be a video without sound, an image or a subtitle file)")]
    NoAudioStream,
    /// The audio decodes to zero samples.
    #[error("the file contains no audio: it decodes to zero samples")]
    Empty,
    /// The file has no bytes at all.
    #[error("the file is empty (0 bytes)")]
    EmptyFile,
    /// The file is missing or cannot be read.
    #[error("cannot read the file: {0}")]
    Io(#[from] io::Error),
}

impl AudioError {
    /// A stable machine-readable code for job errors.
    pub fn code(&self) -> &'static str {
        match self {
            AudioError::Unsupported(_) => "unsupported_media",
            AudioError::NoAudioStream => "no_audio_stream",
            AudioError::Empty | AudioError::EmptyFile => "empty_audio",
            AudioError::Io(_) => "io_error",
        }
    }
}

/// Decodes a file to 16 kHz mono f32, one block at a time.
pub struct AudioReader {
    source: Source,
    pending: Vec<f32>,
    finished: bool,
    duration: Option<f64>,
    /// How long the file says it is (container or WAV header), to tell a truncated file.
    announced: Option<f64>,
    /// Samples handed out so far.
    handed_out: u64,
}

enum Source {
    Wav(Box<WavSource>),
    Ffmpeg(Box<FfmpegSource>),
}

impl AudioReader {
    /// Opens `path` and finds its audio. Nothing is decoded yet.
    pub fn open(path: &Path) -> Result<Self, AudioError> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(io::Error::new(io::ErrorKind::IsADirectory, "it is a directory, not a file").into());
        }
        if meta.is_file() && meta.len() == 0 {
            return Err(AudioError::EmptyFile);
        }
        let mut wav_fault = None;
        if meta.is_file() && is_wav(&mut file)? {
            match WavSource::open(file, meta.len())? {
                WavOpen::Ready(wav) => {
                    let (duration, announced) = (wav.duration_hint(), wav.announced());
                    return Ok(Self::new(Source::Wav(Box::new(wav)), duration, announced));
                }
                WavOpen::Fallback { fault } => wav_fault = fault,
            }
        }
        let source = match FfmpegSource::open(path) {
            Ok(source) => source,
            // FFmpeg's own reason for a broken WAV header is vaguer than hound's.
            Err(AudioError::Unsupported(_)) if wav_fault.is_some() => {
                return Err(AudioError::Unsupported(format!(
                    "the WAV header is invalid ({}): the file is corrupt",
                    wav_fault.unwrap_or_default()
                )))
            }
            // FFmpeg reports a file that ends inside its header as an I/O error. If the
            // operating system reads the whole file, the disk is fine and the file is short.
            Err(AudioError::Io(e)) if e.raw_os_error() == Some(EIO) && std::fs::read(path).is_ok() => {
                return Err(AudioError::Unsupported(
                    "the file ends before its audio could be read: it is truncated or damaged".into(),
                ))
            }
            Err(e) => return Err(e),
        };
        let duration = source.duration;
        Ok(Self::new(Source::Ffmpeg(Box::new(source)), duration, duration))
    }

    fn new(source: Source, duration: Option<f64>, announced: Option<f64>) -> Self {
        Self { source, pending: Vec::new(), finished: false, duration, announced, handed_out: 0 }
    }

    /// After the last block: what is wrong with a file that decoded all the same (cut short,
    /// damaged packets skipped), written for the person who sent it; `None` for a sound file.
    pub fn damage(&self) -> Option<String> {
        let decoded = self.handed_out as f64 / f64::from(SAMPLE_RATE);
        if let Some(announced) = self.announced {
            // Codec delay and padding make small differences; a second or 5 % is damage.
            if announced - decoded > (0.05 * announced).max(1.0) {
                return Some(format!(
                    "only {decoded:.1} s of audio could be decoded of the {announced:.1} s the file announces: \
                     it is truncated or damaged, and the transcript covers the part that decoded"
                ));
            }
        }
        let skipped = match &self.source {
            Source::Ffmpeg(ff) => ff.skipped,
            Source::Wav(_) => 0,
        };
        (skipped > 0).then(|| {
            format!("{skipped} damaged packets of the audio could not be decoded and were skipped: the transcript may miss words there")
        })
    }

    /// Next block of 16 kHz mono samples (at most 48 000, three seconds; only the last block is
    /// shorter); `Ok(None)` at the end. After an error the reader is finished.
    pub fn next_block(&mut self) -> Result<Option<Vec<f32>>, AudioError> {
        while !self.finished && self.pending.len() < BLOCK_SAMPLES {
            let more = match &mut self.source {
                Source::Wav(wav) => wav.step(&mut self.pending),
                Source::Ffmpeg(ff) => ff.step(&mut self.pending),
            };
            match more {
                Ok(more) => self.finished = !more,
                Err(e) => {
                    self.finished = true;
                    self.pending = Vec::new();
                    return Err(e);
                }
            }
        }
        if self.pending.is_empty() {
            return Ok(None);
        }
        let rest = self.pending.split_off(self.pending.len().min(BLOCK_SAMPLES));
        let block = std::mem::replace(&mut self.pending, rest);
        self.handed_out += block.len() as u64;
        Ok(Some(block))
    }

    /// Duration in seconds from the container header when it says so (for progress only).
    pub fn duration_hint(&self) -> Option<f64> {
        self.duration
    }
}

/// Convenience: decode the whole file; [`AudioError::Empty`] when there are no samples.
pub fn decode_file(path: &Path) -> Result<Vec<f32>, AudioError> {
    let mut reader = AudioReader::open(path)?;
    // Headers can lie: reserve for at most half an hour up front; the vector grows past it.
    let capacity = reader.duration_hint().map_or(0, |d| (d.min(1800.0) * SAMPLE_RATE as f64) as usize + 1);
    let mut samples = Vec::with_capacity(capacity);
    while let Some(block) = reader.next_block()? {
        samples.extend_from_slice(&block);
    }
    if samples.is_empty() {
        return Err(AudioError::Empty);
    }
    Ok(samples)
}

/// A sample ready to hand out: finite and within [-1, 1].
fn clean(x: f32) -> f32 {
    if x.is_finite() {
        x.clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

/// Whether the file starts like a RIFF WAVE file. Leaves the file at its start.
fn is_wav(file: &mut File) -> Result<bool, AudioError> {
    let mut head = [0u8; 12];
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    file.seek(SeekFrom::Start(0))?;
    Ok(filled == head.len() && &head[0..4] == b"RIFF" && &head[8..12] == b"WAVE")
}

// ---------------------------------------------------------------------------------------------
// WAV fast path

struct WavSource {
    reader: hound::WavReader<BufReader<File>>,
    channels: usize,
    /// `Some(scale)` for integer PCM, `None` for 32-bit float.
    int_scale: Option<f32>,
    file_len: u64,
}

/// What hound makes of a WAV file.
enum WavOpen {
    Ready(WavSource),
    /// FFmpeg takes over: a WAV hound does not read (or one that needs resampling), with the
    /// header's fault when hound found one.
    Fallback {
        fault: Option<String>,
    },
}

impl WavSource {
    fn open(file: File, file_len: u64) -> Result<WavOpen, AudioError> {
        let reader = match hound::WavReader::new(BufReader::new(file)) {
            Ok(reader) => reader,
            // The disk failed us; anything else (hound's own short reads included) is a WAV that
            // hound does not understand, which FFmpeg may still read or explain better.
            Err(hound::Error::IoError(e)) if e.raw_os_error().is_some() => return Err(e.into()),
            Err(e) => {
                tracing::debug!("hound cannot read this WAV ({e}); decoding it with FFmpeg");
                let fault = matches!(e, hound::Error::FormatError(_)).then(|| e.to_string());
                return Ok(WavOpen::Fallback { fault });
            }
        };
        let spec = reader.spec();
        let int_scale = match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => Some(1.0 / (1u64 << (bits - 1)) as f32),
            (hound::SampleFormat::Float, 32) => None,
            _ => return Ok(WavOpen::Fallback { fault: None }),
        };
        // A zero length is what streaming writers put in the header; FFmpeg reads those to the end.
        if spec.channels == 0 {
            return Ok(WavOpen::Fallback { fault: Some("it declares 0 channels".into()) });
        }
        if spec.sample_rate != SAMPLE_RATE || reader.len() == 0 {
            return Ok(WavOpen::Fallback { fault: None });
        }
        Ok(WavOpen::Ready(Self { reader, channels: spec.channels as usize, int_scale, file_len }))
    }

    /// The header's length, unless it is a streaming writer's placeholder (all bits set).
    fn announced(&self) -> Option<f64> {
        let spec = self.reader.spec();
        let bytes = u64::from(self.reader.duration()) * u64::from(spec.bits_per_sample / 8) * self.channels as u64;
        (bytes < 0xFFFF_0000).then(|| f64::from(self.reader.duration()) / f64::from(spec.sample_rate))
    }

    /// From the header, but never longer than the file could hold (streamed WAVs lie).
    fn duration_hint(&self) -> Option<f64> {
        let spec = self.reader.spec();
        let frame_bytes = u64::from(spec.bits_per_sample / 8) * self.channels as u64;
        let frames = u64::from(self.reader.duration()).min(self.file_len / frame_bytes.max(1));
        Some(frames as f64 / f64::from(spec.sample_rate))
    }

    /// Appends up to a block of samples; false at the end of the data.
    fn step(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError> {
        match self.int_scale {
            Some(scale) => self.read::<i32>(out, |x| x as f32 * scale),
            None => self.read::<f32>(out, |x| x),
        }
    }

    fn read<S: hound::Sample>(&mut self, out: &mut Vec<f32>, to_f32: impl Fn(S) -> f32) -> Result<bool, AudioError> {
        let channels = self.channels;
        let inv = 1.0 / channels as f32;
        let (mut sum, mut in_frame, mut frames) = (0.0f32, 0, 0);
        for sample in self.reader.samples::<S>() {
            match sample {
                Ok(x) => {
                    let x = to_f32(x);
                    sum += if x.is_finite() { x } else { 0.0 };
                    in_frame += 1;
                    if in_frame == channels {
                        out.push(clean(sum * inv));
                        (sum, in_frame) = (0.0, 0);
                        frames += 1;
                        if frames == BLOCK_SAMPLES {
                            return Ok(true);
                        }
                    }
                }
                // A truncated file: keep what was there, as FFmpeg does. (hound reports a short
                // read as an `Other` error of its own, not as an OS error.)
                Err(hound::Error::IoError(e))
                    if e.kind() == io::ErrorKind::UnexpectedEof
                        || (e.kind() == io::ErrorKind::Other && e.raw_os_error().is_none()) =>
                {
                    tracing::debug!("the WAV data ends before the length its header gives");
                    return Ok(false);
                }
                Err(hound::Error::IoError(e)) => return Err(e.into()),
                Err(e) => return Err(AudioError::Unsupported(format!("the WAV data is corrupt: {e}"))),
            }
        }
        Ok(false)
    }
}

// ---------------------------------------------------------------------------------------------
// FFmpeg path

fn init_ffmpeg() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if let Err(e) = ffmpeg::init() {
            tracing::warn!("FFmpeg initialisation reported: {e}");
        }
        // FFmpeg writes to stderr on its own; what matters reaches the caller as an AudioError.
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Quiet);
    });
}

/// FFmpeg demuxers that show text files (ANSI art and the like) as video; for a transcription
/// service such a file is simply not media.
const TEXT_DEMUXERS: [&str; 5] = ["tty", "bin", "xbin", "adf", "idf"];

/// A format guessed with at most this score (FFmpeg's `AVPROBE_SCORE_RETRY`) is a guess the
/// `ffmpeg` tool warns about ("misdetection possible"): random bytes pass as raw H.263 this way.
const PROBE_SCORE_DOUBTFUL: i32 = 25;

/// Failures in a row, with no packet read in between, after which a stream is given up as
/// unreadable: a guard against a demuxer or decoder that fails without making progress.
const MAX_CONSECUTIVE_FAILURES: u32 = 10_000;

struct FfmpegSource {
    input: format::context::Input,
    stream_index: usize,
    decoder: codec::decoder::Audio,
    codec_name: &'static str,
    frame: frame::Audio,
    mixed: Vec<f32>,
    resampler: Option<Resampler>,
    /// The sample rate of the frames seen last (0 before the first frame).
    rate: u32,
    eof_sent: bool,
    decoded: u64,
    skipped: u64,
    failures_in_a_row: u32,
    last_error: Option<FfError>,
    duration: Option<f64>,
}

impl FfmpegSource {
    fn open(path: &Path) -> Result<Self, AudioError> {
        init_ffmpeg();
        let input = open_input(path)?;
        // A text file, or a guess FFmpeg itself doubts: not media, rather than media without sound.
        let doubtful = input.probe_score() <= PROBE_SCORE_DOUBTFUL || TEXT_DEMUXERS.contains(&input.format().name());
        // FFmpeg's pick skips audio streams whose format it could not learn (no packets at all);
        // such a stream still makes the file an audio file, if an empty or broken one.
        let stream = input
            .streams()
            .best(media::Type::Audio)
            .or_else(|| input.streams().find(|s| s.parameters().medium() == media::Type::Audio))
            .ok_or(if doubtful {
                AudioError::Unsupported("the file is not in a recognised audio or video format".into())
            } else {
                AudioError::NoAudioStream
            })?;
        let stream_index = stream.index();
        let parameters = stream.parameters();
        let codec_name = parameters.id().name();
        let unsupported_codec =
            |e: FfError| AudioError::Unsupported(format!("the audio codec ({codec_name}) is not supported: {e}"));
        let mut decoder = codec::context::Context::from_parameters(parameters).map_err(unsupported_codec)?.decoder();
        decoder.set_packet_time_base(stream.time_base());
        let decoder = decoder.audio().map_err(unsupported_codec)?;

        let seconds =
            |ts: i64, num: i32, den: i32| (ts > 0 && num > 0 && den > 0).then(|| ts as f64 * num as f64 / den as f64);
        let tb = stream.time_base();
        let duration = seconds(stream.duration(), tb.numerator(), tb.denominator())
            .or_else(|| seconds(input.duration(), 1, ffmpeg::ffi::AV_TIME_BASE))
            .filter(|d| d.is_finite());

        Ok(Self {
            input,
            stream_index,
            decoder,
            codec_name,
            frame: frame::Audio::empty(),
            mixed: Vec::new(),
            resampler: None,
            rate: 0,
            eof_sent: false,
            decoded: 0,
            skipped: 0,
            failures_in_a_row: 0,
            last_error: None,
            duration,
        })
    }

    /// Decodes a little more, appending 16 kHz samples to `out`; false at the end.
    fn step(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError> {
        match self.decoder.receive_frame(&mut self.frame) {
            Ok(()) => {
                self.failures_in_a_row = 0;
                self.push_frame(out)?;
                return Ok(true);
            }
            Err(FfError::Eof) => return self.finish(out),
            Err(FfError::Other { errno: EAGAIN }) if self.eof_sent => return self.finish(out),
            Err(FfError::Other { errno: EAGAIN }) => {}
            Err(e) => {
                self.failed(e)?;
                return Ok(true);
            }
        }
        // The decoder wants input: the next packet of our stream, or the end.
        let mut packet = ffmpeg::Packet::empty();
        match packet.read(&mut self.input) {
            Ok(()) if packet.stream() != self.stream_index => return Ok(true),
            Ok(()) => {
                self.failures_in_a_row = 0;
                if let Err(e) = self.decoder.send_packet(&packet) {
                    self.failed(e)?;
                }
            }
            Err(FfError::Other { errno: EAGAIN }) => self.failed(FfError::Other { errno: EAGAIN })?,
            Err(e) => {
                // FFmpeg's EIO here means the data ended inside a packet: a short file, which
                // `AudioReader::damage` reports, not a disk fault (the file opened and read).
                if e != FfError::Eof {
                    // Like the ffmpeg tool: a demuxing error ends the input, keeping what decoded.
                    tracing::debug!("reading the {} stream stopped early: {e}", self.codec_name);
                    self.last_error = Some(e);
                    self.skipped += 1;
                }
                self.eof_sent = true;
                // Fails only when the decoder is already draining, which is what we want anyway.
                let _ = self.decoder.send_eof();
            }
        }
        Ok(true)
    }

    /// Notes a packet that could not be read or decoded; gives up after too many in a row.
    fn failed(&mut self, e: FfError) -> Result<(), AudioError> {
        self.skipped += 1;
        self.failures_in_a_row += 1;
        self.last_error = Some(e);
        if self.failures_in_a_row >= MAX_CONSECUTIVE_FAILURES {
            return Err(self.undecodable());
        }
        Ok(())
    }

    fn undecodable(&self) -> AudioError {
        let why = self.last_error.map(|e| format!(" ({e})")).unwrap_or_default();
        AudioError::Unsupported(format!(
            "the {} audio could not be decoded{why}: the file is corrupt, truncated or not really {}",
            self.codec_name, self.codec_name
        ))
    }

    fn finish(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError> {
        if let Some(resampler) = &mut self.resampler {
            let start = out.len();
            resampler.flush(out).map_err(|e| resample_error(self.codec_name, e))?;
            out[start..].iter_mut().for_each(|x| *x = clean(*x));
        }
        if self.decoded == 0 && self.skipped > 0 {
            return Err(self.undecodable());
        }
        if self.skipped > 0 {
            tracing::warn!(
                skipped = self.skipped,
                "{} packets of the {} audio could not be decoded and were skipped{}",
                self.skipped,
                self.codec_name,
                self.last_error.map(|e| format!(" (last error: {e})")).unwrap_or_default()
            );
        }
        Ok(false)
    }

    /// Mixes the decoded frame down, resamples it and appends it to `out`.
    fn push_frame(&mut self, out: &mut Vec<f32>) -> Result<(), AudioError> {
        if self.frame.samples() == 0 {
            return Ok(());
        }
        let rate = match self.frame.rate() {
            0 => self.decoder.rate(),
            rate => rate,
        };
        if rate == 0 {
            return Err(AudioError::Unsupported(format!("the {} audio has no sample rate", self.codec_name)));
        }
        downmix(&self.frame, &mut self.mixed).map_err(|why| {
            AudioError::Unsupported(format!("the {} audio could not be converted: {why}", self.codec_name))
        })?;
        self.decoded += self.mixed.len() as u64;

        let (start, codec_name) = (out.len(), self.codec_name);
        let resample_error = |e| resample_error(codec_name, e);
        if rate != self.rate {
            // First frame, or the stream changed its rate: finish the old filter, start a new one.
            if let Some(mut old) = self.resampler.take() {
                old.flush(out).map_err(resample_error)?;
            }
            if rate != SAMPLE_RATE {
                self.resampler = Some(Resampler::new(rate).map_err(resample_error)?);
            }
            self.rate = rate;
        }
        match &mut self.resampler {
            Some(resampler) => resampler.push(&self.mixed, out).map_err(resample_error)?,
            None => out.extend_from_slice(&self.mixed),
        }
        out[start..].iter_mut().for_each(|x| *x = clean(*x));
        Ok(())
    }
}

fn resample_error(codec_name: &str, e: FfError) -> AudioError {
    AudioError::Unsupported(format!("the {codec_name} audio could not be resampled to 16 kHz: {e}"))
}

/// Opens `path` with FFmpeg as a local file only: no network protocols, and no reading of a name
/// like `concat:a|b` as anything but a file name. Unlike `ffmpeg::format::input` this takes any
/// path (non-UTF-8 too) without panicking.
fn open_input(path: &Path) -> Result<format::context::Input, AudioError> {
    let mut url = b"file:".to_vec();
    #[cfg(unix)]
    url.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()));
    #[cfg(not(unix))]
    url.extend_from_slice(path.to_string_lossy().as_bytes());
    let url = std::ffi::CString::new(url)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "the file name contains a NUL byte"))?;
    let mut options = ffmpeg::Dictionary::new();
    options.set("protocol_whitelist", "file");
    // SAFETY: the calls follow FFmpeg's documented contract: on failure avformat_open_input frees
    // the context and sets it to null; the options dictionary is handed back and freed by `own`;
    // after a successful open the context is closed here on error or owned by `Input`.
    unsafe {
        let mut ctx = std::ptr::null_mut();
        let mut opts = options.disown();
        let ret = ffmpeg::ffi::avformat_open_input(&mut ctx, url.as_ptr(), std::ptr::null_mut(), &mut opts);
        drop(ffmpeg::Dictionary::own(opts));
        if ret < 0 {
            return Err(open_error(FfError::from(ret)));
        }
        let ret = ffmpeg::ffi::avformat_find_stream_info(ctx, std::ptr::null_mut());
        if ret < 0 {
            ffmpeg::ffi::avformat_close_input(&mut ctx);
            return Err(open_error(FfError::from(ret)));
        }
        Ok(format::context::Input::wrap(ctx))
    }
}

fn open_error(e: FfError) -> AudioError {
    match e {
        FfError::Other { errno } if [ENOENT, EACCES, EPERM, EISDIR, EIO, ENXIO, ENODEV].contains(&errno) => {
            io::Error::from_raw_os_error(errno).into()
        }
        FfError::InvalidData | FfError::DemuxerNotFound => {
            AudioError::Unsupported("the file is not in a recognised audio or video format".into())
        }
        FfError::Eof => {
            AudioError::Unsupported("the file ends before its audio begins: it is truncated or not a media file".into())
        }
        e => AudioError::Unsupported(format!("the file could not be opened as audio or video: {e}")),
    }
}

/// Averages the channels of `frame` into `out` (cleared first), as f32 in [-1, 1] for in-range
/// input; NaN and infinite samples become 0.
fn downmix(frame: &frame::Audio, out: &mut Vec<f32>) -> Result<(), &'static str> {
    use format::Sample;
    out.clear();
    let (n, channels, planar) = (frame.samples(), frame.channels() as usize, frame.is_planar());
    if channels == 0 {
        return Err("a frame has no channels");
    }
    // SAFETY: a decoded frame holds `n` samples per channel, either interleaved in plane 0 or one
    // plane per channel; `extended_data` lists the planes (also beyond 8 channels).
    let data = unsafe { (*frame.as_ptr()).extended_data as *const *const u8 };
    if data.is_null() {
        return Err("a frame has no data");
    }
    unsafe {
        match frame.format() {
            Sample::U8(_) => mix::<u8>(data, planar, channels, n, out, |x| (f32::from(x) - 128.0) / 128.0),
            Sample::I16(_) => mix::<i16>(data, planar, channels, n, out, |x| f32::from(x) / 32_768.0),
            Sample::I32(_) => mix::<i32>(data, planar, channels, n, out, |x| (f64::from(x) / 2_147_483_648.0) as f32),
            Sample::I64(_) => {
                mix::<i64>(data, planar, channels, n, out, |x| (x as f64 / 9_223_372_036_854_775_808.0) as f32)
            }
            Sample::F32(_) => mix::<f32>(data, planar, channels, n, out, |x| x),
            Sample::F64(_) => mix::<f64>(data, planar, channels, n, out, |x| x as f32),
            Sample::None => Err("the samples have an unknown format"),
        }
    }
}

/// # Safety
/// `data` must point to `channels` planes of `n` samples of `T` (planar) or one plane of
/// `n * channels` interleaved samples.
unsafe fn mix<T: Copy>(
    data: *const *const u8,
    planar: bool,
    channels: usize,
    n: usize,
    out: &mut Vec<f32>,
    to_f32: impl Fn(T) -> f32,
) -> Result<(), &'static str> {
    let finite = |x: f32| if x.is_finite() { x } else { 0.0 };
    let inv = 1.0 / channels as f32;
    out.reserve(n);
    if planar && channels > 1 {
        let planes = (0..channels).map(|c| plane::<T>(data, c, n)).collect::<Result<Vec<_>, _>>()?;
        out.extend((0..n).map(|i| planes.iter().map(|p| finite(to_f32(p[i]))).sum::<f32>() * inv));
    } else {
        let samples = plane::<T>(data, 0, n * channels)?;
        out.extend(samples.chunks_exact(channels).map(|f| f.iter().map(|&x| finite(to_f32(x))).sum::<f32>() * inv));
    }
    Ok(())
}

/// # Safety
/// As for [`mix`]; `len` samples of `T` must be readable in plane `index`.
unsafe fn plane<'a, T>(data: *const *const u8, index: usize, len: usize) -> Result<&'a [T], &'static str> {
    let ptr = *data.add(index);
    if ptr.is_null() || ptr.align_offset(std::mem::align_of::<T>()) != 0 {
        return Err("a frame's samples are missing or misaligned");
    }
    Ok(std::slice::from_raw_parts(ptr as *const T, len))
}

/// swresample from mono f32 at some rate to mono f32 at 16 kHz. Channels are mixed before, so
/// the resampler never has to know a channel layout (some files declare none).
struct Resampler {
    ctx: resampling::Context,
}

impl Resampler {
    fn new(rate: u32) -> Result<Self, FfError> {
        let f32_packed = format::Sample::F32(format::sample::Type::Packed);
        let ctx = resampling::Context::get(
            f32_packed,
            ChannelLayout::MONO,
            rate,
            f32_packed,
            ChannelLayout::MONO,
            SAMPLE_RATE,
        )?;
        Ok(Self { ctx })
    }

    /// Resamples `input` (or, when empty and `flush`, what the filter still holds) onto `out`.
    fn convert(&mut self, input: &[f32], flush: bool, out: &mut Vec<f32>) -> Result<usize, FfError> {
        let in_count = i32::try_from(input.len()).map_err(|_| FfError::InvalidData)?;
        // SAFETY: `out` has room for `capacity` more samples (swr_get_out_samples is an upper
        // bound); swr_convert writes at most that many and returns how many it wrote. The input
        // pointer is null only to flush, as swr_convert documents.
        unsafe {
            let ctx = self.ctx.as_mut_ptr();
            let capacity = ffmpeg::ffi::swr_get_out_samples(ctx, in_count);
            if capacity < 0 {
                return Err(FfError::from(capacity));
            }
            let capacity = capacity.max(if flush { 256 } else { 0 });
            out.reserve(capacity as usize);
            let mut dst = [out.as_mut_ptr().add(out.len()) as *mut u8];
            let mut src = [input.as_ptr() as *const u8];
            let src = if flush { std::ptr::null_mut() } else { src.as_mut_ptr() };
            let written = ffmpeg::ffi::swr_convert(ctx, dst.as_mut_ptr(), capacity, src, in_count);
            if written < 0 {
                return Err(FfError::from(written));
            }
            let written = (written as usize).min(capacity as usize);
            out.set_len(out.len() + written);
            Ok(written)
        }
    }

    fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), FfError> {
        self.convert(input, false, out).map(drop)
    }

    /// Drains the filter's delay line: the last few milliseconds of audio.
    fn flush(&mut self, out: &mut Vec<f32>) -> Result<(), FfError> {
        while self.convert(&[], true, out)? > 0 {}
        Ok(())
    }
}
