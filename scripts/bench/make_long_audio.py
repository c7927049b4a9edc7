#!/usr/bin/env python3
"""Builds long 16 kHz mono 16-bit WAV inputs for the speed and memory benchmarks.

Every real speech recording under the evaluation audio folder (sorted by path, so the result is the
same on every machine) is decoded once with the ffmpeg CLI to 16 kHz mono PCM, then the recordings
are played round-robin, separated by a short silence, until the target length is reached; the last
piece is cut so the file is exactly N minutes long.

Idempotent: an output that exists with the right length is kept. Outputs are written to a
temporary name and renamed, so an interrupted run never leaves a short file behind.

    .venv/bin/python scripts/bench/make_long_audio.py              # 10, 60 and 240 minutes
    .venv/bin/python scripts/bench/make_long_audio.py --minutes 10 # prints the path(s) made
"""
import argparse
import os
import subprocess
import sys
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import EVALDATA, ROOT  # noqa: E402

SR = 16000
DEFAULT_AUDIO = EVALDATA / "audio"
DEFAULT_OUT = ROOT / "var" / "bench"
EXTS = {".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus"}


def decode(path: Path) -> bytes:
    """16 kHz mono s16le PCM of one file, via the ffmpeg CLI."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path),
           "-ac", "1", "-ar", str(SR), "-f", "s16le", "-acodec", "pcm_s16le", "-"]
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout


def long_path(out_dir: Path, minutes: int) -> Path:
    return out_dir / f"long-{minutes}min.wav"


def wav_frames(path: Path) -> int:
    try:
        with wave.open(str(path), "rb") as w:
            if w.getframerate() != SR or w.getnchannels() != 1 or w.getsampwidth() != 2:
                return -1
            return w.getnframes()
    except (wave.Error, EOFError, OSError):
        return -1


def build(minutes: int, audio_dir: Path, out_dir: Path, gap_s: float, pieces=None) -> Path:
    out = long_path(out_dir, minutes)
    target = minutes * 60 * SR
    if out.exists() and wav_frames(out) == target:
        return out
    if pieces is None:
        pieces = load_pieces(audio_dir)
    gap = b"\x00\x00" * int(gap_s * SR)
    tmp = out.with_suffix(".wav.partial")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        i = 0
        while written < target:
            for chunk in (pieces[i % len(pieces)], gap):
                n = min(len(chunk) // 2, target - written)
                w.writeframesraw(chunk[: 2 * n])
                written += n
                if written >= target:
                    break
            i += 1
    os.replace(tmp, out)
    return out


def load_pieces(audio_dir: Path):
    files = sorted(p for p in audio_dir.rglob("*") if p.suffix.lower() in EXTS)
    if not files:
        sys.exit(f"no audio files under {audio_dir}")
    pieces = [decode(p) for p in files]
    total = sum(len(p) for p in pieces) / 2 / SR
    print(f"[make_long_audio] {len(files)} recordings, {total:.1f} s of source audio", file=sys.stderr)
    return pieces


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=int, nargs="+", default=[10, 60, 240])
    ap.add_argument("--audio-dir", type=Path, default=DEFAULT_AUDIO)
    ap.add_argument("--out-dir", type=Path, default=Path(os.environ.get("BENCH_DIR", DEFAULT_OUT)))
    ap.add_argument("--gap", type=float, default=0.5, help="silence between recordings, seconds")
    args = ap.parse_args()
    pieces = None
    for m in args.minutes:
        out = long_path(args.out_dir, m)
        if not (out.exists() and wav_frames(out) == m * 60 * SR):
            pieces = pieces or load_pieces(args.audio_dir)
        print(build(m, args.audio_dir, args.out_dir, args.gap, pieces))


if __name__ == "__main__":
    main()
