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

The broader development set (benchdata/asr/, many sources and languages, split into `tune` and
`report`; see benchdata/asr/SOURCES.md) runs with --set; then faster-whisper defaults to int8 and
to both pipelines, sequential (WhisperModel.transcribe, beam 5) and batched
(BatchedInferencePipeline, VAD on, batch 8), and the output adds WER per source and per split and
a per-file listing of the files where ours makes more errors than the better faster-whisper
pipeline, with both hypotheses:

    .venv/bin/python scripts/bench/asr.py --set benchdata/asr/manifest.tsv --split report
    .venv/bin/python scripts/bench/asr.py --set benchdata/asr/manifest.tsv --split tune --models base --language-mode detect

Chinese and Japanese rows are scored per character (their "WER" is a character error rate).
With --language-mode detect, each system's language-ID accuracy (the detected language against
the manifest's) is reported beside its WER, with the misdetected files.
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


def run_fw(model, compute_type, batch_size, rows, args, load_times):
    import fw_run
    t0 = time.perf_counter()
    fw = fw_run.load(str(C.model_dir(model)), compute_type, args.threads)
    load_times.append(time.perf_counter() - t0)
    for r in rows:
        lang = "en" if C.english_only(model) else (r.language if args.language_mode == "manifest" else None)
        try:
            doc, dt = fw_run.transcribe(fw, str(r.audio), args.beam_size, batch_size, lang,
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
        s = C.score_lang(ref, hyp, r.language)
        total.add(s)
        details.append(dict(id=r.id, source=r.source, split=r.split, language=r.language,
                            detected=(doc or {}).get("language"), sub=s.sub, dele=s.dele, ins=s.ins,
                            seconds=round(dt, 3), audio_s=durations[r.id], errors=s.errors,
                            ref_words=s.ref_words, wer=round(s.wer, 2), ref_norm=ref, hyp_norm=hyp,
                            hyp=hyp_raw, error=err))
    return dict(model=model, system=system, files=files, failed=failed, first_error=first_error,
                audio_s=audio_s, proc_s=proc_s, score=total, lang_mismatches=lang_miss,
                details=details)


def fw_name(compute_type, batch_size, set_mode):
    if batch_size > 1:
        return f"faster-whisper {compute_type} batched {batch_size}"
    return f"faster-whisper {compute_type}" + (" sequential" if set_mode else "")


def score_of(details):
    s = C.Score()
    for d in details:
        s.add(C.Score(d["errors"], d["ref_words"], d["sub"], d["dele"], d["ins"]))
    return s


def wer_cell(s):
    return f"{C.fmt(s.wer, 2)} ({s.errors}/{s.ref_words})"


def print_set_tables(results, args):
    """--set: WER per split and per source, every system side by side, then the per-file gaps."""
    done = [r for r in results if not r.get("unavailable")]
    models = list(dict.fromkeys(r["model"] for r in done))
    for model in models:
        mres = [r for r in done if r["model"] == model]
        names = [r["system"] for r in mres]
        splits = sorted({d["split"] for d in mres[0]["details"]})
        sources = sorted({(d["split"], d["source"]) for d in mres[0]["details"]})
        print(f"\n#### {model}: WER % (errors / reference words) per split and per source\n")
        table = []
        for split in splits:
            table.append([f"**{split}**", "", *[wer_cell(score_of([d for d in r["details"] if d["split"] == split]))
                                                 for r in mres]])
        for split, source in sources:
            ds = [d for d in mres[0]["details"] if d["source"] == source]
            langs = ",".join(sorted({d["language"] for d in ds}))
            table.append([f"{split} / {source}", f"{langs}, {len(ds)} files, {sum(d['audio_s'] for d in ds) / 60:.1f} min",
                          *[wer_cell(score_of([d for d in r["details"] if d["source"] == source])) for r in mres]])
        print(C.md_table(["split / source", "rows", *names], table))
        if args.language_mode == "detect" and not C.english_only(model):
            print(f"\n#### {model}: language identification (detected against the manifest's language)\n")
            table = []
            for r in mres:
                ok = [d for d in r["details"] if d["detected"] and str(d["detected"]).startswith(d["language"])]
                miss = [f"{d['id']} {d['language']}->{d['detected']}" for d in r["details"] if d not in ok]
                table.append([r["system"], f"{100.0 * len(ok) / len(r['details']):.1f} ({len(ok)}/{len(r['details'])})",
                              "; ".join(miss)[:400] or "–"])
            print(C.md_table(["system", "accuracy %", "misdetected (expected->detected)"], table))
        print_gaps(model, mres, args.diff_limit)


def print_gaps(model, mres, limit):
    """Files where ours makes more errors than the better of the faster-whisper pipelines."""
    ours = next((r for r in mres if r["system"] == "ours"), None)
    fws = [r for r in mres if r["system"].startswith("faster-whisper")]
    if not ours or not fws:
        return
    by_id = [{d["id"]: d for d in r["details"]} for r in fws]
    gaps = []
    for d in ours["details"]:
        best_i = min(range(len(fws)), key=lambda i: by_id[i][d["id"]]["errors"])
        best = by_id[best_i][d["id"]]
        if d["errors"] > best["errors"]:
            gaps.append((d["errors"] - best["errors"], d, fws[best_i]["system"], best))
    gaps.sort(key=lambda g: -g[0])
    total = sum(g[0] for g in gaps)
    print(f"\n#### {model}: {len(gaps)} files where ours has more errors than the better faster-whisper "
          f"pipeline ({total} errors in all; largest first, {min(limit, len(gaps))} shown)\n")
    for diff, d, name, best in gaps[:limit]:
        print(f"- `{d['id']}` ({d['source']}, {d['audio_s']:.1f} s, {d['ref_words']} ref units): ours {d['errors']} errors "
              f"(S/D/I {d['sub']}/{d['dele']}/{d['ins']}), {name} {best['errors']} "
              f"(S/D/I {best['sub']}/{best['dele']}/{best['ins']})")
        print(f"  - ref:  {d['ref_norm'][:600]}")
        print(f"  - ours: {(d['hyp_norm'] or d['error'] or '')[:600]}")
        print(f"  - fw:   {(best['hyp_norm'] or best['error'] or '')[:600]}")


def earlier_results(path, rows, models, language_mode):
    """Results of an earlier run (its --json), cut to the rows and models of this run, so that
    systems measured at different times (a worker built later) share the tables and the gaps."""
    ids = {r.id for r in rows}
    data = json.loads(path.read_text())
    if data["args"].get("language_mode") != language_mode:
        sys.exit(f"{path} was run with --language-mode {data['args'].get('language_mode')}, this run {language_mode}")
    out = []
    for r in data["results"]:
        if r["model"] not in models or r.get("unavailable"):
            continue
        details = [d for d in r["details"] if d["id"] in ids]
        if not details:
            continue
        failed = [f for f in r["failed"] if f in ids]
        out.append(dict(model=r["model"], system=r["system"], files=len(details), failed=failed,
                        first_error=r["first_error"] if failed else None,
                        audio_s=sum(d["audio_s"] for d in details), proc_s=sum(d["seconds"] for d in details),
                        score=score_of(details), load_s=r.get("load_s"), details=details,
                        lang_mismatches=sum(1 for d in details if d["detected"]
                                            and not str(d["detected"]).startswith(d["language"]))))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tiny.en,base", help="comma list: tiny.en, base or CT2 dirs")
    ap.add_argument("--systems", default="ours,faster-whisper")
    ap.add_argument("--fw-compute", help="comma list of faster-whisper compute types (default float32; int8 with --set)")
    ap.add_argument("--language-mode", choices=["manifest", "detect"], default="manifest",
                    help="multilingual models: language from the manifest, or detected")
    ap.add_argument("--beam-size", type=int, default=5)
    ap.add_argument("--ours-batch-size", type=int, default=8)
    ap.add_argument("--ours-timeout", type=float, default=600, help="seconds per file")
    ap.add_argument("--fw-vad", action="store_true",
                    help="sequential faster-whisper with its VAD filter (off by default; batched always uses VAD)")
    ap.add_argument("--fw-batch-size",
                    help="comma list; 1: WhisperModel.transcribe (sequential); >1: BatchedInferencePipeline "
                         "(default 1; 1,8 with --set)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--manifest", type=Path, default=C.EVALDATA / "asr.tsv")
    ap.add_argument("--set", type=Path, help=f"a split manifest such as {C.ASR_SET.relative_to(C.ROOT)} "
                                             "(id, audio, language, split, source, reference); replaces --manifest")
    ap.add_argument("--split", default="all", help="with --set: tune, report or all")
    ap.add_argument("--diff-limit", type=int, default=25, help="with --set: files listed per model in the gap listing")
    ap.add_argument("--with-results", type=Path, action="append", default=[],
                    help="add the systems of an earlier run's --json (same set) that this run does not measure")
    ap.add_argument("--limit", type=int, help="first N rows only (smoke test)")
    ap.add_argument("--details", action="store_true", help="also print a per-file table")
    ap.add_argument("--json", type=Path, help="write all results, per file, as JSON")
    args = ap.parse_args()
    set_mode = args.set is not None
    args.fw_compute = args.fw_compute or ("int8" if set_mode else "float32")
    args.fw_batch_size = args.fw_batch_size or ("1,8" if set_mode else "1")
    fw_batches = [int(b) for b in args.fw_batch_size.split(",") if b.strip()]
    manifest = args.set or args.manifest

    rows = C.load_manifest(manifest)
    if set_mode and args.split != "all":
        rows = [r for r in rows if r.split == args.split]
        if not rows:
            sys.exit(f"no rows with split {args.split!r} in {manifest}")
    rows = rows[: args.limit]
    durations = {r.id: C.audio_duration(r.audio) for r in rows}
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    results = []
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        mrows = [r for r in rows if r.language == "en"] if C.english_only(model) else rows
        if not mrows:
            continue
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
            for bs in fw_batches:
                for ct in [c.strip() for c in args.fw_compute.split(",") if c.strip()]:
                    loads = []
                    name = fw_name(ct, bs, set_mode)
                    res = evaluate(name, model, run_fw(model, ct, bs, mrows, args, loads), durations)
                    res["load_s"] = loads[0] if loads else None
                    results.append(res)
                    print(f"[asr] {model} {name} done: WER {res['score'].wer:.2f}%", file=sys.stderr)

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for path in args.with_results:
        have = {(r["model"], r["system"]) for r in results if not r.get("unavailable")}
        results += [r for r in earlier_results(path, rows, models, args.language_mode) if (r["model"], r["system"]) not in have]
    results.sort(key=lambda r: models.index(r["model"]))

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

    what = f"{manifest.name}, split {args.split}" if set_mode else manifest.name
    if set_mode:
        fw = (f"faster-whisper {args.fw_compute} batch {args.fw_batch_size} "
              f"(sequential VAD {'on' if args.fw_vad else 'off'}, batched VAD on)")
    else:
        fw = f"faster-whisper batch {args.fw_batch_size}, VAD {'on' if (args.fw_vad or max(fw_batches) > 1) else 'off'}"
    print(f"### ASR accuracy ({what}, beam {args.beam_size}, {args.threads} threads, language: {args.language_mode}, "
          f"{fw}, ours batch {args.ours_batch_size}; {C.machine_line()})\n")
    print(C.md_table(["model", "system", "WER %", "files", "audio s", "processing s", "RTF", "note"], table))
    if set_mode:
        print_set_tables(results, args)
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
        args.json.write_text(json.dumps(dict(args=vars(args) | {"manifest": str(manifest), "json": str(args.json)},
                                             machine=C.machine_line(), results=out), indent=1, default=str))


if __name__ == "__main__":
    main()
