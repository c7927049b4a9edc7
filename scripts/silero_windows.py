"""Derives `silero_vad_windows.jit` from Silero VAD's `silero_vad.jit` (run by setup-models.sh).

Silero runs one 512-sample window at a time because of its recurrent layer, and each call costs
far more in interpreter overhead than in arithmetic. Everything before that layer (STFT and
convolutions) only sees its own window plus 64 samples of context, so it can run on many windows
in one batch; the LSTM cell then runs over the whole sequence in one fused call. This is the
split faster-whisper makes with its encoder/decoder ONNX files; the probabilities are the
sequential ones (within float rounding).

    forward(windows: [N, 576] (64 context + 512 samples, in stream order), state: [2, 1, 128])
        -> (probabilities [N], state)
"""
import sys
from typing import Tuple

import torch


class Windows(torch.nn.Module):
    def __init__(self, silero: torch.jit.ScriptModule):
        super().__init__()
        m = silero._model  # the 16 kHz network
        self.stft = m.stft
        self.encoder = m.encoder
        self.head = m.decoder.decoder
        rnn = m.decoder.rnn
        self.lstm = [t.detach().clone() for t in (rnn.weight_ih, rnn.weight_hh, rnn.bias_ih, rnn.bias_hh)]

    def forward(self, windows: torch.Tensor, state: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        features = self.encoder(self.stft(windows)).squeeze(-1)  # [N, 128]
        hx = [state[0].unsqueeze(0), state[1].unsqueeze(0)]
        out, h, c = torch.lstm(features.unsqueeze(1), hx, self.lstm, True, 1, 0.0, False, False, False)
        probs = self.head(out.squeeze(1).unsqueeze(-1)).squeeze(1).mean(1)
        return probs, torch.stack([h[0], c[0]])


def main(source: str, target: str) -> None:
    silero = torch.jit.load(source, map_location="cpu")
    windows = torch.jit.script(Windows(silero).eval())
    # Check against the original on noise before writing anything.
    torch.manual_seed(0)
    audio = torch.randn(64 * 512) * 0.1
    expected = silero.audio_forward(audio.unsqueeze(0), 16000)[0]
    padded = torch.cat([torch.zeros(64), audio])
    frames = padded.unfold(0, 576, 512)
    with torch.no_grad():
        got, _ = windows(frames.contiguous(), torch.zeros(2, 1, 128))
    if not torch.allclose(got, expected, atol=1e-4):
        sys.exit(f"the split Silero model disagrees with the original: max diff {(got - expected).abs().max()}")
    windows.save(target)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
