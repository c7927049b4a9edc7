#!/usr/bin/env python3
"""ASR accuracy benchmark: our engine (WORKER_BIN) beside faster-whisper on the same CTranslate2
weights, over every row of evaldata/asr.tsv.

WER is corpus-level (total errors / total reference words) after openai-whisper's normalisers:
EnglishTextNormalizer for English rows, BasicTextNormalizer otherwise. English-only models
(*.en) run on English rows only; multilingual ones on every row, with the manifest's language
(--language-mode manifest, the default) or detected (--language-mode detect).

Processing time: faster-whisper runs in this process with each model loaded once, and its time
is the transcription alone; our engine is one `worker transcribe` process per file, so its time
includes process start, model load and decode per file (the RTF of short files is dominated by
that: compare the speed benchmark for throughput).

    .venv/bin/python scripts/bench/asr.py                         # tiny.en + base, both systems
    .venv/bin/python scripts/bench/asr.py --fw-compute float32,int8 --json var/bench/asr.json
    WORKER_BIN=/path/to/worker .venv/bin/python scripts/bench/asr.py --systems ours
"""
import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as C  # noqa: E402


def run_ours(model, rows, args):
    """Yields (row, doc | None, seconds, error)."""
    env = C.thread_env(args.threads)
    for r in rows:
        lang = r.language if (C.english_only(model) or args.language_mode == "manifest") else None
        if C.english_only(model):
            lang = "en"
        m = C.run_measured(C.ours_cmd(r.audio, model, args.beam_size, args.ours_batch_size, lang),
                           env=env, timeout=args.ours_timeout)
        if not m.ok:
            yield r, None, m.wall_s, m.why()
            continue
        try:
            yield r, C.parse_transcript(m.stdout), m.wall_s, None
        except ValueError as e:
            yield r, None, m.wall_s, f"unreadable JSON on stdout: {e}"


def run_fw(model, compute_type, rows, args, load_times):
    import fw_run
    t0 = time.perf_counter()
    fw = fw_run.load(str(C.model_dir(model)), compute_type, args.threads)
    load_times.append(time.perf_counter() - t0)
    for r in rows:
        lang = "en" if C.english_only(model) else (r.language if args.language_mode == "manifest" else None)
        try:
            doc, dt = fw_run.transcribe(fw, str(r.audio), args.beam_size, args.fw_batch_size, lang,
                                        True if args.fw_vad else None)
            yield r, doc, dt, None
        except Exception as e:  # noqa: BLE001 - a failed file is a result, not a crash
            yield r, None, 0.0, f"{type(e).__name__}: {e}"


def evaluate(system, model, results, durations):
    total = C.Score()
    files, audio_s, proc_s, failed, lang_miss, details = 0, 0.0, 0.0, [], 0, []
    first_error = None
    for r, doc, dt, err in results:
        files += 1
        audio_s += durations[r.id]
        proc_s += dt
        norm = C.normaliser(r.language)
        ref = norm(r.reference)
        if doc is None:
            failed.append(r.id)
            first_error = first_error or f"{r.id}: {err}"
            hyp_raw, hyp = "", ""
        else:
            hyp_raw = C.transcript_text(doc)
            hyp = norm(hyp_raw)
            if doc.get("language") and not str(doc["language"]).startswith(r.language):
                lang_miss += 1
        s = C.score(ref, hyp)
        total.add(s)
        details.append(dict(id=r.id, language=r.language, detected=(doc or {}).get("language"),
                            seconds=round(dt, 3), audio_s=durations[r.id], errors=s.errors,
                            ref_words=s.ref_words, wer=round(s.wer, 2), ref_norm=ref, hyp_norm=hyp,
                            hyp=hyp_raw, error=err))
    return dict(model=model, system=system, files=files, failed=failed, first_error=first_error,
                audio_s=audio_s, proc_s=proc_s, score=total, lang_mismatches=lang_miss,
                details=details)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tiny.en,base", help="comma list: tiny.en, base or CT2 dirs")
    ap.add_argument("--systems", default="ours,faster-whisper")
    ap.add_argument("--fw-compute", default="float32", help="comma list of faster-whisper compute types")
    ap.add_argument("--language-mode", choices=["manifest", "detect"], default="manifest",
                    help="multilingual models: language from the manifest, or detected")
    ap.add_argument("--beam-size", type=int, default=5)
    ap.add_argument("--ours-batch-size", type=int, default=8)
    ap.add_argument("--ours-timeout", type=float, default=600, help="seconds per file")
    ap.add_argument("--fw-vad", action="store_true",
                    help="sequential faster-whisper with its VAD filter (off by default; batched always uses VAD)")
    ap.add_argument("--fw-batch-size", type=int, default=1,
                    help="1: WhisperModel.transcribe (sequential); >1: BatchedInferencePipeline")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--manifest", type=Path, default=C.EVALDATA / "asr.tsv")
    ap.add_argument("--limit", type=int, help="first N rows only (smoke test)")
    ap.add_argument("--details", action="store_true", help="also print a per-file table")
    ap.add_argument("--json", type=Path, help="write all results, per file, as JSON")
    args = ap.parse_args()

    rows = C.load_manifest(args.manifest)[: args.limit]
    durations = {r.id: C.audio_duration(r.audio) for r in rows}
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    results, notes = [], []
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        mrows = [r for r in rows if r.language == "en"] if C.english_only(model) else rows
        if "ours" in systems:
            wb = C.worker_bin()
            if not wb.exists():
                results.append(dict(model=model, system="ours", unavailable=f"not built: {wb} missing",
                                    files=len(mrows), audio_s=sum(durations[r.id] for r in mrows)))
            else:
                res = evaluate("ours", model, run_ours(model, mrows, args), durations)
                if len(res["failed"]) == res["files"]:
                    res["unavailable"] = f"failed on every file ({res['first_error']})"
                results.append(res)
            print(f"[asr] {model} ours done", file=sys.stderr)
        if "faster-whisper" in systems:
            for ct in [c.strip() for c in args.fw_compute.split(",") if c.strip()]:
                loads = []
                name = f"faster-whisper {ct}" + (f" batched {args.fw_batch_size}" if args.fw_batch_size > 1 else "")
                res = evaluate(name, model, run_fw(model, ct, mrows, args, loads), durations)
                res["load_s"] = loads[0] if loads else None
                results.append(res)
                print(f"[asr] {model} {name} done: WER {res['score'].wer:.2f}%", file=sys.stderr)

    table = []
    for r in results:
        if r.get("unavailable"):
            table.append([r["model"], r["system"], "–", r["files"], C.fmt(r["audio_s"]), "–", "–",
                          r["unavailable"][:160].replace("|", "/")])
            continue
        note = []
        if r["failed"]:
            note.append(f"{len(r['failed'])} failed (scored as empty): {r['first_error'][:100]}")
        if r["lang_mismatches"]:
            note.append(f"{r['lang_mismatches']} language mismatches")
        if r.get("load_s") is not None:
            note.append(f"model load {r['load_s']:.1f} s, excluded")
        elif r["system"] == "ours":
            note.append("one process per file: start + load included")
        s = r["score"]
        note.append(f"S/D/I {s.sub}/{s.dele}/{s.ins} of {s.ref_words} words")
        table.append([r["model"], r["system"], C.fmt(s.wer, 2), r["files"], C.fmt(r["audio_s"]),
                      C.fmt(r["proc_s"]), C.fmt(r["proc_s"] / r["audio_s"], 3), "; ".join(note).replace("|", "/")])

    vad = "on" if (args.fw_vad or args.fw_batch_size > 1) else "off"
    print(f"### ASR accuracy ({args.manifest.name}, beam {args.beam_size}, {args.threads} threads, "
          f"language: {args.language_mode}, faster-whisper batch {args.fw_batch_size}, VAD {vad}, "
          f"ours batch {args.ours_batch_size}; {C.machine_line()})\n")
    print(C.md_table(["model", "system", "WER %", "files", "audio s", "processing s", "RTF", "note"], table))
    if args.details:
        for r in results:
            if r.get("unavailable"):
                continue
            print(f"\n#### {r['model']} / {r['system']}\n")
            print(C.md_table(["id", "WER %", "errors", "ref words", "s", "hypothesis (normalised)"],
                             [[d["id"], C.fmt(d["wer"], 1), d["errors"], d["ref_words"], C.fmt(d["seconds"], 2),
                               (d["hyp_norm"] or d["error"] or "")[:90]] for d in r["details"]]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        out = []
        for r in results:
            r = dict(r)
            if "score" in r:
                s = r.pop("score")
                r.update(wer=s.wer, errors=s.errors, ref_words=s.ref_words, sub=s.sub, dele=s.dele, ins=s.ins)
            out.append(r)
        args.json.write_text(json.dumps(dict(args=vars(args) | {"manifest": str(args.manifest), "json": str(args.json)},
                                             machine=C.machine_line(), results=out), indent=1, default=str))


if __name__ == "__main__":
    main()
