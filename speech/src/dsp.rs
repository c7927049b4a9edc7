//! Signal-processing pieces shared by the Whisper front end and the speaker encoder, and the
//! one sample rate everything in this crate works at.

/// The sample rate of all audio in this crate: 16 kHz, what Whisper, Silero and the speaker
/// models expect. [`crate::audio`] decodes every file to it.
pub const SAMPLE_RATE: u32 = 16_000;

/// [`SAMPLE_RATE`] as a float, for converting sample indices to seconds and back.
pub(crate) const SR: f64 = SAMPLE_RATE as f64;

fn hz_to_mel(f: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if f >= min_log_hz {
        min_log_mel + (f / min_log_hz).ln() / logstep
    } else {
        f / f_sp
    }
}

fn mel_to_hz(m: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if m >= min_log_mel {
        min_log_hz * (logstep * (m - min_log_mel)).exp()
    } else {
        f_sp * m
    }
}

/// `librosa.filters.mel(sr, n_fft, n_mels)` (Slaney scale and norm, 0 Hz to sr/2), as
/// `[n_mels, n_fft/2 + 1]` row-major, librosa's layout.
pub(crate) fn slaney_mel_filters(sr: f64, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let bins = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..bins).map(|i| i as f64 * sr / n_fft as f64).collect();
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(sr / 2.0));
    let mel_f: Vec<f64> = (0..n_mels + 2).map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64)).collect();
    let mut w = vec![0f32; n_mels * bins];
    for m in 0..n_mels {
        let (fl, fc, fu) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
        let enorm = 2.0 / (fu - fl);
        for (k, &f) in fft_freqs.iter().enumerate() {
            let lower = (f - fl) / (fc - fl);
            let upper = (fu - f) / (fu - fc);
            w[m * bins + k] = (lower.min(upper).max(0.0) * enorm) as f32;
        }
    }
    w
}
