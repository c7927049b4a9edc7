#!/usr/bin/env python3
"""Simulated conversations for the diarization development set (benchdata/diarization/).

Real multi-speaker recordings with human references that may be redistributed are scarce, so most
of the set is built here, in the manner of LibriCSS and pyannote's simulated meetings: read
speech of known LibriSpeech speakers is cut into phrases and laid out as a conversation (turns,
pauses, overlaps, back-channels), optionally in a reverberant noisy room (far-field) or through a
telephone channel; the reference RTTM comes from the construction itself.

    .venv/bin/python scripts/bench/simulate_conversations.py --resemblyzer DIR [--out benchdata/diarization]

DIR is a checkout of github.com/resemble-ai/Resemblyzer (commit 15d828edebe06bc72b9cabc8ef8ca5ab2cb457ce):
its audio_data/librispeech_test-other/ (10 speakers, 10 utterances each) and
audio_data/librispeech_train-clean-100/ (251 speakers, one utterance each). Everything is drawn
from one seed per conversation, so a rerun writes the same RTTMs and, with the same FFmpeg/libopus,
the same audio. Needs numpy and the ffmpeg tool.

Speakers never cross splits: five test-other speakers per split, and the train-clean speakers
(who only have ~14 s each: minor participants of the larger meetings) alternate by sorted id.

Reference: each source utterance is split into phrases by its own energy (clean read speech, so
the speech/silence decision is unambiguous); a phrase's placed interval is that speaker's speech,
and pauses under 0.25 s within one speaker are bridged, as in word-aligned meeting references.
Reverberation tails are not speech in the reference (the usual convention).
"""
import argparse
import csv
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SR = 16000
FRAME = 160  # 10 ms
TEST_OTHER = "audio_data/librispeech_test-other"
TRAIN_CLEAN = "audio_data/librispeech_train-clean-100"
# five test-other speakers per split, two or three of each sex (LibriSpeech SPEAKERS.TXT)
MAJOR = {"tune": ["367", "533", "1998", "1688", "2033"], "report": ["3080", "3331", "2414", "2609", "3005"]}
BRIDGE_S = 0.25


@dataclass
class Spec:
    id: str
    split: str
    major: int  # speakers with minutes of speech available
    minor: int  # speakers with one ~14 s utterance
    length_s: float
    overlap_p: float  # chance a turn starts before the previous one has ended
    backchannel_p: float  # chance of a short interjection inside a turn
    condition: str  # clean | farfield | telephone
    category: str
    dominance: float  # Dirichlet concentration of speaking shares: low = lopsided
    seed: int
    overlap_max_s: float = 2.5  # an overlapping turn starts 0.3 s to this much before the previous one ends


def specs():
    out = []
    # (suffix, major, minor, length, overlap_p, backchannel_p, condition, category, dominance, overlap_max_s)
    common = [
        ("01", 2, 0, 90, 0.05, 0.05, "clean", "interview", 5.0),
        ("02", 2, 0, 180, 0.15, 0.10, "telephone", "telephone", 3.0),
        ("03", 3, 0, 150, 0.15, 0.10, "clean", "meeting", 3.0),
        ("04", 3, 0, 240, 0.15, 0.10, "farfield", "meeting-farfield", 2.0),
        ("05", 4, 0, 45, 0.20, 0.10, "farfield", "meeting-farfield-short", 3.0),
        ("06", 4, 0, 300, 0.30, 0.20, "farfield", "meeting-farfield", 1.5, 4.0),
        ("08", 3, 0, 120, 0.10, 0.05, "telephone", "telephone-conference", 3.0),
        ("09", 4, 0, 120, 0.15, 0.35, "clean", "meeting-short-turns", 3.0),
        ("10", 2, 0, 60, 0.50, 0.30, "clean", "dialogue-overlap", 4.0, 5.0),
    ]
    for split, prefix in (("tune", "sim-t"), ("report", "sim-r")):
        for n, (suffix, major, minor, length, ov, bc, cond, cat, dom, *ov_max) in enumerate(common):
            out.append(Spec(prefix + suffix, split, major, minor, length, ov, bc, cond, cat, dom,
                            seed=1000 * (split == "report") + n, overlap_max_s=(ov_max or [2.5])[0]))
    # the large meetings: 7 speakers in tune, 8 (a full 10 minutes) in report
    out.append(Spec("sim-t07", "tune", 5, 2, 420, 0.25, 0.15, "farfield", "meeting-farfield-large", 1.0, 99, 3.0))
    out.append(Spec("sim-r07", "report", 5, 3, 600, 0.25, 0.15, "farfield", "meeting-farfield-large", 1.0, 1099, 3.0))
    return sorted(out, key=lambda s: s.id)


def decode(path):
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(SR), "-f", "f32le", "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.float32).copy()


def phrases(x):
    """Speech runs of a clean utterance (10-ms frame energy against the utterance's own peak level),
    gaps under BRIDGE_S bridged, runs under 0.3 s dropped, 50 ms of margin kept on each side."""
    n = len(x) // FRAME
    db = 10 * np.log10((x[: n * FRAME].reshape(n, FRAME) ** 2).mean(axis=1) + 1e-10)
    thr = max(np.percentile(db, 95) - 35.0, np.percentile(db, 10) + 10.0)
    on = db > thr
    runs, start = [], None
    for i, v in enumerate(np.append(on, False)):
        if v and start is None:
            start = i
        elif not v and start is not None:
            runs.append([start, i])
            start = None
    merged = []
    for r in runs:
        if merged and r[0] - merged[-1][1] < BRIDGE_S * 100:
            merged[-1][1] = r[1]
        else:
            merged.append(r)
    out = []
    for a, b in merged:
        if b - a >= 30:
            a, b = max(a - 5, 0), min(b + 5, n)
            out.append(x[a * FRAME: b * FRAME])
    return out


class Speaker:
    """A speaker's phrases, handed out in a shuffled cycle (reshuffled when used up)."""

    def __init__(self, name, items, rng):
        self.name, self.items, self.rng, self.queue = name, items, rng, []

    def next(self):
        if not self.queue:
            self.queue = list(self.rng.permutation(len(self.items)))
        return self.items[self.queue.pop()]

    def fragment(self):
        """0.4-1.2 s cut from a phrase: a back-channel or short interjection."""
        p = self.next()
        n = int(self.rng.uniform(0.4, 1.2) * SR)
        if len(p) <= n:
            return p
        a = int(self.rng.integers(0, len(p) - n))
        return p[a: a + n]


def fade(x, ms=15):
    k = min(int(SR * ms / 1000), len(x) // 2)
    if k:
        ramp = np.linspace(0.0, 1.0, k, dtype=np.float32)
        x = x.copy()
        x[:k] *= ramp
        x[-k:] *= ramp[::-1]
    return x


def layout(spec, speakers, rng):
    """Turns on a timeline: a list of (speaker index, start sample, samples)."""
    n = len(speakers)
    share = rng.dirichlet([spec.dominance] * n)
    share = 0.7 * share + 0.3 / n if spec.minor == 0 else share
    # minor speakers (one short utterance) take few turns
    for i in range(spec.major, n):
        share[i] = min(share[i], 0.04)
    share /= share.sum()
    order = list(rng.permutation(n))  # everyone speaks early on, as in introductions
    events = []
    end_total = int(spec.length_s * SR)
    t = int(rng.uniform(0.3, 1.5) * SR)
    prev, prev_start, prev_end = None, 0, t
    while True:
        if order:
            s = int(order.pop())
        else:
            w = share.copy()
            if prev is not None:
                w[prev] = 0.0
            s = int(rng.choice(n, p=w / w.sum()))
        overlapped = prev is not None and rng.random() < spec.overlap_p
        if overlapped:
            ov = int(rng.uniform(0.3, spec.overlap_max_s) * SR)
            start = max(prev_end - ov, prev_start + int(0.5 * SR))
        else:
            start = prev_end + int(np.clip(rng.lognormal(np.log(0.45), 0.6), 0.05, 3.0) * SR)
        k = 1 if s >= spec.major else int(min(rng.geometric(0.45), 5))
        pos, turn = start, []
        for _ in range(k):
            p = speakers[s].next()
            turn.append((s, pos, p))
            pos += len(p) + int(rng.uniform(0.1, 0.6) * SR)
        turn_end = turn[-1][1] + len(turn[-1][2])
        if turn_end > end_total - int(0.5 * SR):
            break
        events.extend(turn)
        # a back-channel from someone else inside a long enough turn
        if n > 1 and rng.random() < spec.backchannel_p and turn_end - start > 2 * SR:
            others = [i for i in range(min(spec.major, n)) if i != s] or [i for i in range(n) if i != s]
            b = int(rng.choice(others))
            frag = speakers[b].fragment()
            at = int(rng.integers(start + SR // 2, turn_end - len(frag) - SR // 4)) if turn_end - start - len(frag) > SR else None
            if at is not None:
                events.append((b, at, frag))
        prev, prev_start, prev_end = s, start, max(turn_end, prev_end)
    return events, end_total


def reference(events, n, total, names, uri):
    """RTTM lines from each speaker's placed phrases, pauses under BRIDGE_S bridged."""
    frames = total // FRAME + 1
    act = np.zeros((n, frames), dtype=bool)
    for s, at, x in events:
        act[s, at // FRAME: (at + len(x)) // FRAME] = True
    lines, turns = [], []
    for s in range(n):
        row = act[s]
        idx = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(np.int8), [0]])))
        segs = [[a, b] for a, b in zip(idx[::2], idx[1::2])]
        merged = []
        for a, b in segs:
            if merged and a - merged[-1][1] < BRIDGE_S * 100:
                merged[-1][1] = b
            else:
                merged.append([a, b])
        for a, b in merged:
            act[s, a:b] = True
            turns.append((a / 100, (b - a) / 100, names[s]))
    for start, dur, name in sorted(turns):
        lines.append(f"SPEAKER {uri} 1 {start:.2f} {dur:.2f} <NA> <NA> {name} <NA> <NA>")
    speech = act.any(axis=0).sum()
    overlap = (act.sum(axis=0) > 1).sum()
    return lines, speech / 100, overlap / max(speech, 1)


def rir(rng, rt60, drr_db):
    """A synthetic room impulse response: the direct path, then exponentially decaying noise
    (60 dB down at rt60) whose energy sets the direct-to-reverberant ratio; the tail is low-passed
    a little (air and wall absorption)."""
    n = int(rt60 * 1.1 * SR)
    t = np.arange(n) / SR
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    tail[: int(0.003 * SR)] = 0.0
    a = 0.6
    for i in range(1, n):
        tail[i] = a * tail[i - 1] + (1 - a) * tail[i]
    tail *= np.sqrt(10 ** (-drr_db / 10) / (tail ** 2).sum())
    tail[0] = 1.0
    return tail.astype(np.float32)


def fftconv(x, h):
    m = len(x) + len(h) - 1
    size = 1 << (m - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size), size)[: len(x)].astype(np.float32)


def coloured_noise(rng, n, exponent):
    """Stationary noise with a 1/f^exponent power spectrum (1 = pink, 2 = brown), slowly modulated."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    spec[1:] /= f[1:] ** (exponent / 2)
    spec[0] = 0
    x = np.fft.irfft(spec, n)
    mod = 1.0 + 0.3 * np.sin(2 * np.pi * np.arange(n) / SR / rng.uniform(5, 20) + rng.uniform(0, 6.3))
    x *= mod
    return (x / (x.std() + 1e-9)).astype(np.float32)


def band_limit(x, lo, hi):
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / SR)
    spec[(f < lo) | (f > hi)] = 0
    return np.fft.irfft(spec, len(x)).astype(np.float32)


def telephone(x, rng):
    """300-3400 Hz, sampled at 8 kHz with G.711 mu-law (8 bits), back to 16 kHz."""
    x = band_limit(x, 300, 3400)
    x = x / (np.abs(x).max() + 1e-9) * 0.7
    y = x[::2]
    mu = 255.0
    q = np.round((np.sign(y) * np.log1p(mu * np.abs(y)) / np.log1p(mu)) * 127) / 127
    y = np.sign(q) * ((1 + mu) ** np.abs(q) - 1) / mu
    up = np.zeros(len(x), dtype=np.float32)
    up[::2] = 2 * y
    return band_limit(up, 0, 3400)


def build(spec, root, out):
    rng = np.random.default_rng(spec.seed)
    majors = MAJOR[spec.split][:]
    rng.shuffle(majors)
    majors = majors[: spec.major]
    pool = sorted(p.stem.split("-")[0] for p in (root / TRAIN_CLEAN).glob("*.flac"))
    pool = [s for i, s in enumerate(sorted(pool, key=int)) if i % 2 == (spec.split == "report")]
    minors = list(rng.choice(pool, spec.minor, replace=False)) if spec.minor else []
    speakers = []
    for s in majors:
        files = sorted((root / TEST_OTHER / s).glob("*.flac"))
        items = [p for f in files for p in phrases(decode(f))]
        speakers.append(Speaker(f"ls{s}", items, rng))
    for s in minors:
        f = next((root / TRAIN_CLEAN).glob(f"{s}-*.flac"))
        speakers.append(Speaker(f"ls{s}", phrases(decode(f)), rng))
    names = [sp.name for sp in speakers]
    events, total = layout(spec, speakers, rng)
    n = len(speakers)
    gains = 10 ** (rng.uniform(-4, 4, n) / 20)
    tracks = np.zeros((n, total), dtype=np.float32)
    for s, at, x in events:
        x = fade(x) / (np.sqrt((x ** 2).mean()) + 1e-9) * 0.05 * gains[s]
        tracks[s, at: at + len(x)] += x[: total - at]
    lines, speech_s, overlap = reference(events, n, total, names, spec.id)
    if spec.condition == "farfield":
        rt60 = rng.uniform(0.3, 0.8)
        mix = sum(fftconv(tracks[s], rir(rng, rt60, rng.uniform(-3, 8))) for s in range(n))
        snr = rng.uniform(8, 20)
    else:
        mix = tracks.sum(axis=0)
        snr = rng.uniform(25, 35)
    active = np.concatenate([mix[at: at + len(x)] for _, at, x in events])
    noise = coloured_noise(rng, total, rng.choice([1.0, 2.0]) if spec.condition == "farfield" else 0.0)
    mix = mix + noise * np.sqrt((active ** 2).mean()) * 10 ** (-snr / 20)
    if spec.condition == "telephone":
        mix = telephone(mix, rng)
    mix = (mix / (np.abs(mix).max() + 1e-9) * 0.8).astype(np.float32)
    audio = out / "audio" / f"{spec.id}.opus"
    audio.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(SR), "-ac", "1", "-i", "-",
                    "-c:a", "libopus", "-b:a", "32k", "-map_metadata", "-1", "-fflags", "+bitexact",
                    "-flags:a", "+bitexact", str(audio)], input=mix.tobytes(), check=True)
    (out / "rttm").mkdir(exist_ok=True)
    (out / "rttm" / f"{spec.id}.rttm").write_text("\n".join(lines) + "\n")
    (out / "uem").mkdir(exist_ok=True)
    (out / "uem" / f"{spec.id}.uem").write_text(f"{spec.id} 1 0.00 {total / SR:.2f}\n")
    detail = f"RT60 {rt60:.2f} s, " if spec.condition == "farfield" else ""
    return {"id": spec.id, "audio": f"audio/{spec.id}.opus", "rttm": f"rttm/{spec.id}.rttm",
            "uem": f"uem/{spec.id}.uem", "split": spec.split, "kind": "simulated", "speakers": str(n),
            "category": spec.category,
            "note": f"{total / SR:.0f} s, speech {speech_s:.0f} s, overlap {100 * overlap:.1f} % of speech, "
                    f"{spec.condition} ({detail}SNR {snr:.0f} dB); speakers {' '.join(names)}"}


FIELDS = ["id", "audio", "rttm", "uem", "split", "kind", "speakers", "category"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resemblyzer", type=Path, required=True, help="checkout of resemble-ai/Resemblyzer")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "benchdata" / "diarization")
    ap.add_argument("--only", help="comma-separated conversation ids")
    args = ap.parse_args()
    manifest = args.out / "manifest.tsv"
    rows = {}
    if manifest.exists():
        with open(manifest) as f:
            rows = {r["id"]: r for r in csv.DictReader(f, delimiter="\t")}
    notes = []
    for spec in specs():
        if args.only and spec.id not in args.only.split(","):
            continue
        row = build(spec, args.resemblyzer, args.out)
        notes.append(f"| {row['id']} | {row['split']} | {row['speakers']} | {row['category']} | {row.pop('note')} |")
        rows[row["id"]] = row
        print(notes[-1], flush=True)
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, FIELDS, delimiter="\t", extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for key in sorted(rows, key=lambda k: (rows[k]["split"], rows[k]["kind"], k)):
            w.writerow(rows[key])


if __name__ == "__main__":
    main()
