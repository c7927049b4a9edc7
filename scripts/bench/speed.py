#!/usr/bin/env python3
"""Speed and memory benchmark: our engine (WORKER_BIN) beside faster-whisper on the same weights.

Each run is its own process, measured from outside: wall time (process start to exit, so model
load and audio decode are included for both systems) and peak RSS (the kernel's high-water mark
from wait4). RTF = wall time / audio duration. Both systems get 2 threads (cpu_threads=2 for
faster-whisper; OMP/MKL/RAYON_NUM_THREADS=2 in the environment of both).

Default configurations, on the 10-minute input (built by make_long_audio.py when missing):
  faster-whisper int8, sequential, beam 5     (WhisperModel.transcribe; no VAD, its default)
  faster-whisper int8, batched 8, beam 1      (BatchedInferencePipeline; VAD on, its default)
  ours, beam 5, batch 1
  ours, batch 8, beam 1 (greedy), without timestamp tokens like faster-whisper's batched pipeline
  ours, batch 8, beam 1 (greedy), with timestamp tokens (segments inside each chunk)
and the ratio ours / faster-whisper for each pair. Medians over --repeats runs (default 3 for
inputs under 20 minutes, else 1).

--memory runs ours (batch 8 greedy) on the 1-hour and 4-hour inputs and reports peak RSS, to show
that memory stays flat in the length of the audio (add faster-whisper with --memory-systems).

    .venv/bin/python scripts/bench/speed.py                     # tiny.en, 10 minutes
    .venv/bin/python scripts/bench/speed.py --models tiny.en,base --fw-compute int8,float32
    .venv/bin/python scripts/bench/speed.py --memory --models tiny.en
"""
import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as C  # noqa: E402
import make_long_audio  # noqa: E402


def configs(fw_computes, systems):
    out = []
    if "faster-whisper" in systems:
        for ct in fw_computes:
            out.append(("faster-whisper", f"faster-whisper {ct} sequential beam 5", dict(beam=5, batch=1, ct=ct), "seq"))
            out.append(("faster-whisper", f"faster-whisper {ct} batched 8 beam 1", dict(beam=1, batch=8, ct=ct), "batch"))
    if "ours" in systems:
        out.append(("ours", "ours beam 5", dict(beam=5, batch=1), "seq"))
        # faster-whisper's batched pipeline decodes without timestamp tokens by default (one
        # segment per VAD chunk), as WhisperX does: the like-for-like row does the same.
        out.append(("ours", "ours batched 8 beam 1", dict(beam=1, batch=8, extra=["--without-timestamps"]), "batch"))
        out.append(("ours", "ours batched 8 beam 1 with timestamps", dict(beam=1, batch=8), "batch"))
    return out


def command(system, model, audio, cfg, args):
    lang = "en" if (C.english_only(model) or args.language) else None
    lang = args.language or lang
    if system == "ours":
        return C.ours_cmd(audio, model, cfg["beam"], cfg["batch"], lang, cfg.get("extra", []))
    return C.fw_cmd(audio, model, cfg["beam"], cfg["batch"], lang, cfg["ct"], args.threads)


def measure(system, label, model, audio, duration, cfg, repeats, args):
    if system == "ours" and not C.worker_bin().exists():
        return dict(model=model, label=label, system=system, unavailable=f"not built: {C.worker_bin()} missing")
    runs, words, error = [], None, None
    for i in range(repeats):
        m = C.run_measured(command(system, model, audio, cfg, args), env=C.thread_env(args.threads),
                           timeout=args.timeout)
        if not m.ok:
            error = m.why()
            break
        try:
            doc = C.parse_transcript(m.stdout)
        except ValueError as e:
            error = f"unreadable JSON on stdout: {e}"
            break
        words = len(C.transcript_text(doc).split())
        runs.append(dict(wall_s=m.wall_s, cpu_s=m.cpu_s, peak_rss_mb=m.peak_rss_mb, timing=doc.get("timing"),
                         others_cpu_s=m.others_cpu_s))
        print(f"[speed] {model} {label} on {audio.name}: run {i + 1}/{repeats} {m.wall_s:.1f} s "
              f"(CPU {m.cpu_s:.1f} s, other processes {m.others_cpu_s:.1f} CPU s), "
              f"RTF {m.wall_s / duration:.3f}, peak RSS {m.peak_rss_mb:.0f} MB", file=sys.stderr)
    res = dict(model=model, label=label, system=system, audio=str(audio), audio_s=duration, runs=runs, words=words)
    if error and not runs:
        res["unavailable"] = f"failed: {error}"
    elif error:
        res["note"] = f"stopped after {len(runs)} runs: {error}"
    if runs:
        res["wall_s"] = C.median([r["wall_s"] for r in runs])
        res["rtf"] = res["wall_s"] / duration
        res["peak_rss_mb"] = C.median([r["peak_rss_mb"] for r in runs])
        res["cpu_s"] = C.median([r["cpu_s"] for r in runs])
        # share of the machine's CPU time that other processes took during our runs
        res["others_share"] = max(r["others_cpu_s"] / (r["wall_s"] * (os.cpu_count() or 1)) for r in runs)
        inner = [r["timing"]["transcribe_s"] for r in runs if r.get("timing")]
        if inner:
            res["inner_rtf"] = C.median(inner) / duration
    return res


def speed_table(results):
    rows = []
    for r in results:
        if r.get("unavailable"):
            rows.append([r["model"], r["label"], "–", "–", "–", "–", "–", "–", r["unavailable"][:160].replace("|", "/")])
            continue
        note = r.get("note", "")
        if r.get("inner_rtf") is not None:
            note = (note + "; " if note else "") + f"RTF without load {r['inner_rtf']:.3f}"
        if r["others_share"] > 0.1:
            note = (note + "; " if note else "") + f"busy machine: other processes took up to {100 * r['others_share']:.0f}% of the CPU"
        rows.append([r["model"], r["label"], len(r["runs"]), C.fmt(r["wall_s"]), C.fmt(r["rtf"], 3),
                     C.fmt(r["cpu_s"]), C.fmt(r["peak_rss_mb"], 0), r["words"], note])
    return C.md_table(["model", "configuration", "runs", "median s", "RTF", "CPU s", "peak RSS MB", "words", "note"],
                      rows)


def ratio_table(results, fw_computes):
    by = {(r["model"], r["label"]): r for r in results}
    rows = []
    for model in dict.fromkeys(r["model"] for r in results):
        for ours_label, kind in (("ours beam 5", "sequential beam 5"), ("ours batched 8 beam 1", "batched 8 beam 1")):
            for ct in fw_computes:
                o, f = by.get((model, ours_label)), by.get((model, f"faster-whisper {ct} {kind}"))
                if not o or not f:
                    continue
                ok = not o.get("unavailable") and not f.get("unavailable")
                rows.append([model, f"{ours_label} / faster-whisper {ct} {kind}",
                             C.fmt(o["rtf"] / f["rtf"], 2) if ok else "–",
                             C.fmt(o["peak_rss_mb"] / f["peak_rss_mb"], 2) if ok else "–"])
    return C.md_table(["model", "pair", "time ratio (ours/fw)", "peak RSS ratio (ours/fw)"], rows) if rows else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tiny.en", help="comma list: tiny.en, base or CT2 dirs")
    ap.add_argument("--systems", default="ours,faster-whisper")
    ap.add_argument("--fw-compute", default="int8", help="comma list of faster-whisper compute types")
    ap.add_argument("--minutes", type=int, default=10, help="length of the speed input")
    ap.add_argument("--audio", type=Path, help="use this file instead of the built N-minute input")
    ap.add_argument("--repeats", type=int, help="runs per configuration (default 3 under 20 min, else 1)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--language", help="language to pass (default: en for *.en models, else detect)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    ap.add_argument("--memory", action="store_true", help="peak RSS of ours on the 1-hour and 4-hour inputs")
    ap.add_argument("--memory-minutes", default="60,240")
    ap.add_argument("--memory-systems", default="ours", help="comma list: ours, faster-whisper")
    ap.add_argument("--memory-config", default="batched", choices=["batched", "sequential"])
    ap.add_argument("--json", type=Path, help="write all runs as JSON")
    args = ap.parse_args()

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    fw_computes = [c.strip() for c in args.fw_compute.split(",") if c.strip()]
    out = dict(machine=C.machine_line(), threads=args.threads)

    if not args.memory:
        audio = args.audio or make_long_audio.build(args.minutes, make_long_audio.DEFAULT_AUDIO, C.BENCH_DIR, 0.5)
        duration = C.audio_duration(audio)
        repeats = args.repeats or (3 if duration < 20 * 60 else 1)
        results = [measure(system, label, model, audio, duration, cfg, repeats, args)
                   for model in models for system, label, cfg, _ in configs(fw_computes, systems)]
        print(f"### Speed ({audio.name}, {duration / 60:.1f} min, {args.threads} threads, median of "
              f"{repeats}; wall time includes model load and decode; {C.machine_line()})\n")
        print(speed_table(results))
        rt = ratio_table(results, fw_computes)
        if rt:
            print("\n" + rt)
        out["speed"] = results
    else:
        msystems = [s.strip() for s in args.memory_systems.split(",") if s.strip()]
        results = []
        for minutes in [int(x) for x in args.memory_minutes.split(",")]:
            audio = make_long_audio.build(minutes, make_long_audio.DEFAULT_AUDIO, C.BENCH_DIR, 0.5)
            duration = C.audio_duration(audio)
            for model in models:
                for system, label, cfg, kind in configs(fw_computes[:1], msystems):
                    if kind == ("batch" if args.memory_config == "batched" else "seq") and "with timestamps" not in label:
                        r = measure(system, label, model, audio, duration, cfg, args.repeats or 1, args)
                        r["label"] = f"{label} — {minutes} min"
                        results.append(r)
        print(f"### Memory (peak RSS against input length, {args.threads} threads; {C.machine_line()})\n")
        print(speed_table(results))
        out["memory"] = results
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
