#!/usr/bin/env python3
"""What word timestamps and diarization add to the time of a transcription, on CPU.

Our engine runs `worker transcribe FILE --model DIR --beam-size 1 --batch-size 8 --format json`
(speed.py's batched low-latency configuration; --language en) three ways: plain, with
`--word-timestamps`, with `--diarize`; each run its own process, measured from outside (wall
time start to exit, model load and decode included; CPU s = the child's user + system time).
The modes are interleaved (plain, words, diarize, plain, ...) so a change in the machine's load
hits all of them alike, and each run first waits (--wait-idle, up to 120 s) until the rest of the
machine uses under 20 % of the CPU, and a run during which other processes took more than 15 % of
the CPU (--max-busy) is discarded and repeated (at most --retries 3 times); medians over
--repeats runs (default 3; --short-repeats 7 for inputs under 2 minutes, whose run-to-run noise
is about 10 %). Fractions are added time over
plain time: alignment = (t_words - t_plain) / t_plain, diarization = (t_diarize - t_plain) / t_plain
(target: diarization adds at most 15 %).

Inputs: the 10-minute input of speed.py (var/bench/long-10min.wav, built when missing) and
evaldata/audio/ami/dev00.wav (30 s, a meeting). A reference row: faster-whisper's own
word_timestamps overhead on the 10-minute input with speed.py's reference for the batched mode
(BatchedInferencePipeline, batch 8, beam 1, int8, VAD), through fw_run.py with and without
--word-timestamps.

    .venv/bin/python scripts/bench/cost.py                       # words and diarization, tiny.en
    .venv/bin/python scripts/bench/cost.py --what diarization --repeats 5
    .venv/bin/python scripts/bench/cost.py --models tiny.en,base --inputs long10
    .venv/bin/python scripts/bench/cost.py --what diarization --models base --beam-size 5 --batch-size 4 --speaker-model campplus
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as C  # noqa: E402
import make_long_audio  # noqa: E402
from words import word_flag_args  # noqa: E402

TARGET_DIARIZE = 0.15


def inputs(names):
    out = []
    for n in names:
        if n.startswith("long"):
            minutes = int(n[4:] or 10)
            out.append((f"long-{minutes}min.wav", make_long_audio.build(minutes, make_long_audio.DEFAULT_AUDIO, C.BENCH_DIR, 0.5)))
        elif n == "ami":
            out.append(("ami/dev00.wav", C.EVALDATA / "audio" / "ami" / "dev00.wav"))
        else:
            out.append((Path(n).name, Path(n)))
    return out


def stage_times(stderr):
    """In-engine seconds from our stderr line 'transcribed ... (vad a s, encoder b s, decoder c s, word alignment d s)'."""
    import re
    m = re.search(r"vad ([\d.]+) s, encoder ([\d.]+) s, decoder ([\d.]+) s, word alignment ([\d.]+) s", stderr)
    return dict(zip(("vad", "encoder", "decoder", "align"), map(float, m.groups()))) if m else {}


def wait_idle(max_wait, share=0.2, settle=3):
    """Waits (at most max_wait s) until the rest of the machine has used under `share` of its CPU for
    `settle` seconds in a row, so that a run does not start in the middle of someone's compile.
    Returns the seconds waited, or None when it gave up."""
    if max_wait <= 0:
        return 0.0
    cores = os.cpu_count() or 1
    t0 = time.monotonic()
    quiet = 0
    while time.monotonic() - t0 < max_wait:
        b0 = C.busy_cpu_s()
        time.sleep(1.0)
        if (C.busy_cpu_s() - b0) / cores < share:
            quiet += 1
            if quiet >= settle:
                return time.monotonic() - t0
        else:
            quiet = 0
    return None


def run_set(system, model, audio, modes, args, word_flag, repeats):
    """modes: {name: extra args}; interleaved repeats. Returns {name: result}."""
    res = {name: dict(runs=[], error=None) for name in modes}
    lang = "en"
    for i in range(repeats):
        for name, extra in modes.items():
            r = res[name]
            if r["error"]:
                continue
            for attempt in range(args.retries + 1):
                if wait_idle(args.wait_idle) is None:
                    r["gave_up_waiting"] = r.get("gave_up_waiting", 0) + 1
                if system == "ours":
                    cmd = C.ours_cmd(audio, model, args.beam_size, args.batch_size, lang) + extra
                else:
                    cmd = C.fw_cmd(audio, model, args.fw_beam_size, args.fw_batch_size, lang, args.fw_compute,
                                   args.threads) + extra
                m = C.run_measured(cmd, env=C.thread_env(args.threads), timeout=args.timeout)
                if not m.ok:
                    r["error"] = m.why()
                    break
                try:
                    doc = C.parse_transcript(m.stdout)
                except ValueError as e:
                    r["error"] = f"unreadable JSON on stdout: {e}"
                    break
                share = m.others_cpu_s / (max(m.wall_s, 1e-9) * (os.cpu_count() or 1))
                busy = share > args.max_busy
                print(f"[cost] {system} {model} {audio.name} {name}: run {i + 1}/{repeats} {m.wall_s:.1f} s "
                      f"(CPU {m.cpu_s:.1f} s, other processes {m.others_cpu_s:.1f} CPU s = {100 * share:.0f}%)"
                      + (" - discarded, again" if busy and attempt < args.retries else ""), file=sys.stderr)
                if busy and attempt < args.retries:
                    r["discarded"] = r.get("discarded", 0) + 1
                    continue
                r["runs"].append(dict(wall_s=m.wall_s, cpu_s=m.cpu_s, others_cpu_s=m.others_cpu_s,
                                      stages=stage_times(m.stderr), words=len(doc.get("word_segments") or []),
                                      turns=len(doc.get("diarization") or []), timing=doc.get("timing")))
                break
    for r in res.values():
        runs = r["runs"]
        if runs:
            r["wall_s"] = C.median([x["wall_s"] for x in runs])
            r["min_wall_s"] = min(x["wall_s"] for x in runs)
            r["cpu_s"] = C.median([x["cpu_s"] for x in runs])
            r["others_share"] = max(x["others_cpu_s"] / (x["wall_s"] * (os.cpu_count() or 1)) for x in runs)
            aligns = [x["stages"]["align"] for x in runs if x["stages"]]
            r["align_s"] = C.median(aligns) if aligns else None
            r["words"] = runs[-1]["words"]
            r["turns"] = runs[-1]["turns"]
            inner = [x["timing"]["transcribe_s"] for x in runs if x.get("timing")]
            r["inner_s"] = C.median(inner) if inner else None
    return res


def frac(a, b):
    return (a - b) / b if a is not None and b else None


def pct(x):
    return "–" if x is None else f"{100 * x:+.1f} %"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--what", default="words,diarization", help="comma list: words, diarization")
    ap.add_argument("--inputs", default="long10,ami", help="comma list: long10 (10-minute input), ami (dev00.wav), or paths")
    ap.add_argument("--models", default="tiny.en")
    ap.add_argument("--repeats", type=int, default=3, help="runs per mode on inputs of 2 minutes or more")
    ap.add_argument("--short-repeats", type=int, default=7,
                    help="runs per mode on shorter inputs (a few seconds each; their run-to-run noise is ~10 %%)")
    ap.add_argument("--beam-size", type=int, default=1)
    ap.add_argument("--speaker-model", default="", help="resemblyzer, campplus or campplus-fast (worker transcribe --speaker-model); default: the worker's")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fw", default="long10", help="inputs for faster-whisper's reference rows ('' for none)")
    ap.add_argument("--fw-compute", default="int8")
    ap.add_argument("--fw-beam-size", type=int, default=1)
    ap.add_argument("--fw-batch-size", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--max-busy", type=float, default=0.15,
                    help="a run during which other processes used more than this share of the CPU is repeated")
    ap.add_argument("--retries", type=int, default=3, help="repeats of a disturbed run (then it is kept)")
    ap.add_argument("--wait-idle", type=float, default=120,
                    help="before each run wait up to this many seconds for other load to drop (0: don't)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    what = {w.strip() for w in args.what.split(",") if w.strip()}
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    word_flag, flag_note = word_flag_args()
    modes = {"plain": []}
    if "words" in what:
        modes["words"] = word_flag
    if "diarization" in what:
        modes["diarize"] = ["--diarize"] + (["--speaker-model", args.speaker_model] if args.speaker_model else [])
    fw_inputs = {n.strip() for n in args.fw.split(",") if n.strip()} if "words" in what else set()

    rows, out = [], []
    for key, (label, audio) in zip(args.inputs.split(","), inputs(args.inputs.split(","))):
        duration = C.audio_duration(audio)
        repeats = args.repeats if duration >= 120 else args.short_repeats
        for model in models:
            sets = []
            if C.worker_bin().exists():
                speakers = f", speakers {args.speaker_model}" if args.speaker_model else ""
                sets.append(("ours", f"ours batched {args.batch_size} beam {args.beam_size}{speakers}",
                             run_set("ours", model, audio, modes, args, word_flag, repeats)))
            else:
                sets.append(("ours", "ours", {m: dict(runs=[], error=f"{C.worker_bin()} missing") for m in modes}))
            if key in fw_inputs:
                fw_modes = {"plain": [], "words": ["--word-timestamps"]}
                sets.append(("faster-whisper", f"faster-whisper {args.fw_compute} batched {args.fw_batch_size} beam "
                             f"{args.fw_beam_size} (VAD)", run_set("faster-whisper", model, audio, fw_modes, args, word_flag, repeats)))
            for system, config, res in sets:
                plain = res["plain"]
                for mode, r in res.items():
                    name = {"plain": "plain", "words": "+ word timestamps", "diarize": "+ diarization"}[mode]
                    if not r["runs"]:
                        rows.append([label, model, config, name, 0, "–", "–", "–", "–", "–", "–", "–", "–", "–", "–",
                                     (r["error"] or "no run")[:160].replace("|", "/")])
                        continue
                    fw_ = frac(r["wall_s"], plain.get("wall_s")) if mode != "plain" else None
                    fmin = frac(r["min_wall_s"], plain.get("min_wall_s")) if mode != "plain" else None
                    fc = frac(r["cpu_s"], plain.get("cpu_s")) if mode != "plain" else None
                    target = "–"
                    if mode == "diarize" and fw_ is not None:
                        target = "yes" if fw_ <= TARGET_DIARIZE else "**no**"
                    notes = []
                    if mode == "words" and r.get("align_s") is not None:
                        notes.append(f"in-engine word alignment {r['align_s']:.2f} s")
                    if mode == "words":
                        notes.append(f"{r['words']} words")
                    if mode == "diarize":
                        notes.append(f"{r['turns']} speaker turns")
                    if system == "faster-whisper" and r.get("inner_s") is not None:
                        notes.append(f"transcription without load {r['inner_s']:.1f} s")
                    if r["error"]:
                        notes.append(f"stopped: {r['error'][:100]}")
                    if r.get("discarded"):
                        notes.append(f"{r['discarded']} disturbed run(s) discarded and repeated")
                    if r.get("gave_up_waiting"):
                        notes.append(f"{r['gave_up_waiting']} run(s) started on a busy machine (waited {args.wait_idle:.0f} s)")
                    if r["others_share"] > 0.1:
                        notes.append(f"busy machine: other processes took up to {100 * r['others_share']:.0f}% of the CPU")
                    added_s = f"{r['wall_s'] - plain['wall_s']:+.1f}" if mode != "plain" and plain.get("wall_s") else "–"
                    rows.append([label, model, config, name, len(r["runs"]), C.fmt(r["wall_s"]), C.fmt(r["min_wall_s"]),
                                 C.fmt(r["wall_s"] / duration, 3), C.fmt(r["cpu_s"]), added_s,
                                 f"**{pct(fw_)}**" if fw_ is not None else "–", pct(fmin), pct(fc), target,
                                 "; ".join(notes).replace("|", "/")])
                out.append(dict(input=str(audio), audio_s=duration, model=model, system=system, config=config,
                                results=res))

    print(f"### Cost of word timestamps and diarization (CPU, {args.threads} threads, median of {args.repeats} runs "
          f"({args.short_repeats} for inputs under 2 minutes), modes "
          f"interleaved; wall time includes model load and decode; {C.machine_line()})\n")
    print("Added = (t_mode - t_plain) / t_plain, on median wall time (the figure the target uses), on the fastest run of "
          "each (least disturbed by other load) and on CPU time (the child's user + system, steadier on a shared "
          f"machine). Each run waits (up to {args.wait_idle:.0f} s) for the rest of the machine to use under 20 % of "
          f"the CPU; a run during which others took over {100 * args.max_busy:.0f} % is repeated (up to {args.retries} "
          "times). Target: diarization adds at most 15 %.\n")
    print(C.md_table(["input", "model", "configuration", "mode", "runs", "median s", "min s", "RTF", "CPU s", "added s",
                      "added (wall, medians)", "added (wall, minima)", "added (CPU)", "diarization <= 15 %", "note"], rows))
    if flag_note and "words" in what:
        print(f"\nNote: {flag_note}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
