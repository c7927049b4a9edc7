//! Log-mel features exactly as Whisper computes them: 400-point STFT with a periodic Hann
//! window and hop 160 (centered, reflect padding), power spectrum without the last frame,
//! Slaney-style mel filters, log10 clamped at 1e-10, dynamic range cut at max - 8, (x + 4) / 4.

use tch::{Device, Kind, Tensor};

use crate::dsp::SAMPLE_RATE;

pub const N_FFT: i64 = 400;
pub const HOP_LENGTH: i64 = 160;
/// Samples in one 30 s window.
pub const N_SAMPLES: usize = 30 * SAMPLE_RATE as usize;
/// Mel frames in one window.
pub const N_FRAMES: i64 = 3000;

/// librosa.filters.mel(sr=16000, n_fft=400, n_mels, htk=False, norm="slaney"): [n_mels, 201].
pub fn mel_filters(n_mels: usize) -> Vec<f32> {
    crate::dsp::slaney_mel_filters(SAMPLE_RATE as f64, N_FFT as usize, n_mels)
}

/// Computes features for whole windows.
pub struct MelExtractor {
    filters: Tensor,
    window: Tensor,
}

impl MelExtractor {
    pub fn new(n_mels: i64) -> Self {
        let f = mel_filters(n_mels as usize);
        Self {
            filters: Tensor::from_slice(&f).view([n_mels, N_FFT / 2 + 1]),
            window: Tensor::hann_window(N_FFT, (Kind::Float, Device::Cpu)),
        }
    }

    /// Features of clips (each at most 30 s) as faster-whisper computes them: the clip with
    /// 160 zero samples appended, its own dynamic range, frames past the clip set to zero
    /// (mel-domain padding to 3000 frames). Returns [B, n_mels, 3000] f32 on the CPU.
    pub fn batch(&self, clips: &[&[f32]]) -> Tensor {
        let n_mels = self.filters.size()[0];
        let out = Tensor::zeros([clips.len() as i64, n_mels, N_FRAMES], (Kind::Float, Device::Cpu));
        for (i, c) in clips.iter().enumerate() {
            let n = c.len().min(N_SAMPLES);
            let mut padded = Vec::with_capacity(n + HOP_LENGTH as usize);
            padded.extend_from_slice(&c[..n]);
            padded.resize(n + HOP_LENGTH as usize, 0.0);
            let f = self.features(&Tensor::from_slice(&padded).unsqueeze(0));
            let frames = (f.size()[2] - 1).min(N_FRAMES);
            if frames > 0 {
                out.get(i as i64).narrow(1, 0, frames).copy_(&f.get(0).narrow(1, 0, frames));
            }
        }
        out
    }

    /// [B, samples] -> [B, n_mels, samples / 160].
    pub fn features(&self, audio: &Tensor) -> Tensor {
        // Centered frames with reflect padding, done by hand (tch always passes align_to_window).
        let padded = audio.unsqueeze(1).reflection_pad1d([N_FFT / 2, N_FFT / 2]).squeeze_dim(1);
        let stft = padded.stft(N_FFT, HOP_LENGTH, N_FFT, Some(&self.window), false, true, true, false);
        let frames = stft.size()[2];
        let power = stft.narrow(2, 0, frames - 1).abs().square();
        let mel = self.filters.matmul(&power);
        let log = mel.clamp_min(1e-10).log10();
        let max = log.amax([1, 2], true) - 8.0;
        (log.maximum(&max) + 4.0) / 4.0
    }
}
