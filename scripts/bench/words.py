#!/usr/bin/env python3
"""Word timing of our engine against faster-whisper's, on the same CTranslate2 weights.

Every English row of evaldata/asr.tsv is transcribed with word timestamps by both systems:

  ours            worker transcribe FILE --model DIR --word-timestamps --beam-size 5 [--language en]
                  --format json  (one process per file; Silero VAD, <= 30 s chunks, not conditioned
                  on previous text: the engine's defaults)
  faster-whisper  WhisperModel.transcribe(word_timestamps=True, beam_size=5, language="en"),
                  float32 (our engine computes in float32 on CPU), in-process through fw_run.py;
                  its defaults otherwise (30 s windows, no VAD, condition_on_previous_text=True;
                  --fw-vad / --fw-no-condition change that)

Both word lists are normalised (a word starting with "-" joined to the one before, as faster-whisper
splits hyphenated compounds that ours keeps whole; lower-case, everything but letters and digits
removed, words that are then empty dropped) and matched with difflib.SequenceMatcher; over the matched words the
table gives |start difference| and |end difference| (median, p90, ms), the median over all
boundaries (starts and ends together) against the target (median < 80 ms), the share of
boundaries within 20 ms (one frame of the cross-attention) and the signed median (ours -
faster-whisper: > 0 means ours is later). A second table is openai-whisper's own test
(tests/test_transcribe.py): on jfk.flac "Americans" must start at <= 1.8 s and end at >= 1.8 s,
and every word must have start < end.

    .venv/bin/python scripts/bench/words.py                       # tiny.en and base
    .venv/bin/python scripts/bench/words.py --models tiny.en --dump jfk   # both lists side by side
    .venv/bin/python scripts/bench/words.py --per-file            # a row per file as well
"""
import argparse
import difflib
import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as C  # noqa: E402

TARGET_MS = 80.0
_norm_re = re.compile(r"[^\w]|_", re.UNICODE)


def norm(word: str) -> str:
    return _norm_re.sub("", word.lower())


def percentile(xs, q):
    """Linear interpolation between closest ranks (numpy's default)."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = (len(s) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def word_flag_args():
    """How to ask our CLI for word timestamps: `--word-timestamps` where the build has it, else the
    HIGH_ACCURACY preset (word_timestamps = true in config/presets.toml; model, beam and batch are
    passed explicitly, so only word_timestamps comes from it). Returns (args, note)."""
    try:
        help_text = subprocess.run([str(C.worker_bin()), "transcribe", "--help"], capture_output=True, text=True,
                                   env=C.thread_env(2), timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        help_text = ""
    if "--word-timestamps" in help_text:
        return ["--word-timestamps"], ""
    return ["--preset", "HIGH_ACCURACY"], ("this worker build has no --word-timestamps: word timestamps requested "
                                           "through --preset HIGH_ACCURACY (word_timestamps = true; model, beam and "
                                           "batch given explicitly)")


def words_of(doc, merge_hyphens=True):
    """[(normalised, original, start, end)] from a transcript's word_segments (or segments[].words).

    With merge_hyphens, a word that begins with "-" is joined to the one before it: faster-whisper
    splits "ill-disposed" into "ill" + "-disposed" (the hyphen goes with the next word), ours keeps
    whitespace-delimited words (WhisperX's shape); joined, the compound compares start to start
    and end to end."""
    ws = doc.get("word_segments") or [w for s in doc.get("segments", []) for w in s.get("words", [])]
    out = []
    for w in ws:
        text = w.get("word", "")
        if w.get("start") is None or w.get("end") is None:
            continue
        if merge_hyphens and text.startswith("-") and out:
            prev = out.pop()
            text = prev[1] + text
            out.append((norm(text), text, prev[2], float(w["end"])))
            continue
        n = norm(text)
        if n:
            out.append((n, text, float(w["start"]), float(w["end"])))
    return out


def match(ours, fw):
    """Pairs (i, j) of matched words (same normalised text, aligned by SequenceMatcher)."""
    sm = difflib.SequenceMatcher(None, [w[0] for w in ours], [w[0] for w in fw], autojunk=False)
    return [(b.a + k, b.b + k) for b in sm.get_matching_blocks() for k in range(b.size)]


def compare(ours, fw):
    pairs = match(ours, fw)
    ds = [(ours[i][2] - fw[j][2]) * 1000 for i, j in pairs]
    de = [(ours[i][3] - fw[j][3]) * 1000 for i, j in pairs]
    return dict(pairs=pairs, start_ms=ds, end_ms=de, ours_words=len(ours), fw_words=len(fw), matched=len(pairs))


def summary(ds, de):
    a_s, a_e = [abs(x) for x in ds], [abs(x) for x in de]
    return dict(start_median=percentile(a_s, 50), start_p90=percentile(a_s, 90),
                end_median=percentile(a_e, 50), end_p90=percentile(a_e, 90),
                all_median=percentile(a_s + a_e, 50), all_p90=percentile(a_s + a_e, 90),
                within_20=(sum(1 for x in a_s + a_e if x <= 20.5) / len(a_s + a_e)) if a_s else float("nan"),
                signed_start=percentile(ds, 50), signed_end=percentile(de, 50))


def side_by_side(ours, fw, title):
    """Both word lists, aligned, with the differences (for a file that looks wrong)."""
    lines = [f"#### {title}", "", "```",
             f"{'ours':<22}{'start':>8}{'end':>8}   {'faster-whisper':<22}{'start':>8}{'end':>8}   {'dstart':>7}{'dend':>7}"]
    sm = difflib.SequenceMatcher(None, [w[0] for w in ours], [w[0] for w in fw], autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):
            o = ours[i1 + k] if i1 + k < i2 else None
            f = fw[j1 + k] if j1 + k < j2 else None
            left = f"{o[1][:21]:<22}{o[2]:8.2f}{o[3]:8.2f}" if o else " " * 38
            right = f"{f[1][:21]:<22}{f[2]:8.2f}{f[3]:8.2f}" if f else " " * 38
            diff = f"{(o[2] - f[2]) * 1000:7.0f}{(o[3] - f[3]) * 1000:7.0f}" if (o and f and tag == "equal") else ""
            lines.append(f"{left}   {right}   {diff}" + ("" if tag == "equal" else f"  <{tag}>"))
    lines.append("```")
    return "\n".join(lines)


def run_ours(model, rows, args, flag):
    env = C.thread_env(args.threads)
    out = {}
    for r in rows:
        lang = "en" if (C.english_only(model) or r.language.lower().startswith("en")) else None
        cmd = C.ours_cmd(r.audio, model, args.beam_size, args.ours_batch_size, lang) + flag
        m = C.run_measured(cmd, env=env, timeout=args.timeout)
        if not m.ok:
            out[r.id] = (None, m.why())
            continue
        try:
            out[r.id] = (C.parse_transcript(m.stdout), None)
        except ValueError as e:
            out[r.id] = (None, f"unreadable JSON on stdout: {e}")
        print(f"[words] ours {model} {r.id}: {m.wall_s:.1f} s", file=sys.stderr)
    return out


def run_fw(model, rows, args):
    import fw_run
    fw = fw_run.load(str(C.model_dir(model)), args.fw_compute, args.threads)
    out = {}
    for r in rows:
        try:
            doc, dt = fw_run.transcribe(fw, str(r.audio), args.beam_size, 1, "en", True if args.fw_vad else None,
                                        word_timestamps=True,
                                        condition_on_previous_text=False if args.fw_no_condition else None)
            out[r.id] = (doc, None)
            print(f"[words] faster-whisper {model} {r.id}: {dt:.1f} s", file=sys.stderr)
        except Exception as e:  # noqa: BLE001 - a failed file is a result
            out[r.id] = (None, f"{type(e).__name__}: {e}")
    return out


def americans(doc):
    """(start, end) of the first word "Americans" (openai-whisper's test strips ' ,')."""
    for w in doc.get("word_segments") or []:
        if w.get("word", "").strip(" ,") == "Americans":
            return w["start"], w["end"]
    return None


def bad_words(doc):
    return sum(1 for w in doc.get("word_segments") or [] if not (w["start"] < w["end"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tiny.en,base")
    ap.add_argument("--beam-size", type=int, default=5)
    ap.add_argument("--ours-batch-size", type=int, default=8, help="our --batch-size (short files: one chunk)")
    ap.add_argument("--fw-compute", default="float32")
    ap.add_argument("--fw-vad", action="store_true", help="faster-whisper with vad_filter=True")
    ap.add_argument("--fw-no-condition", action="store_true", help="faster-whisper condition_on_previous_text=False")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--rows", help="comma list of manifest ids (default: every English row)")
    ap.add_argument("--per-file", action="store_true", help="a row per file as well")
    ap.add_argument("--dump", help="comma list of ids: print both word lists side by side")
    ap.add_argument("--dump-worst", type=int, default=0,
                    help="also print the N files with the largest median boundary difference side by side")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    rows = [r for r in C.load_manifest() if r.language.lower().startswith("en")]
    if args.rows:
        keep = set(args.rows.split(","))
        rows = [r for r in rows if r.id in keep]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    flag, flag_note = word_flag_args()
    have_ours = C.worker_bin().exists()

    results, per_file, dumps, checks, notes = [], [], [], [], []
    if flag_note and have_ours:
        notes.append(flag_note)
    raw = {}
    for model in models:
        fw = run_fw(model, rows, args)
        ours = run_ours(model, rows, args, flag) if have_ours else {r.id: (None, f"{C.worker_bin()} missing") for r in rows}
        raw[model] = dict(ours={k: v[0] for k, v in ours.items()}, fw={k: v[0] for k, v in fw.items()})
        ds, de, n_o, n_f, n_m, errors, file_rows = [], [], 0, 0, 0, [], []
        for r in rows:
            (od, oerr), (fd, ferr) = ours[r.id], fw[r.id]
            if oerr or ferr:
                errors.append(f"{r.id}: " + (f"ours {oerr}" if oerr else f"faster-whisper {ferr}"))
                continue
            ow, fwl = words_of(od), words_of(fd)
            c = compare(ow, fwl)
            ds += c["start_ms"]
            de += c["end_ms"]
            n_o += c["ours_words"]
            n_f += c["fw_words"]
            n_m += c["matched"]
            s = summary(c["start_ms"], c["end_ms"])
            file_rows.append((r.id, c, s, ow, fwl))
            if args.dump and r.id in args.dump.split(","):
                dumps.append(side_by_side(ow, fwl, f"{model}, {r.id} (times in s, differences ours - faster-whisper in ms)"))
            if r.id == "jfk":
                checks.append((model, od, fd))
        s = summary(ds, de)
        worst = sorted((fr for fr in file_rows if fr[1]["matched"]), key=lambda fr: -fr[2]["all_median"])
        for fid, c, fs, ow, fwl in worst[:args.dump_worst]:
            dumps.append(side_by_side(ow, fwl, f"{model}, {fid}: median boundary difference {fs['all_median']:.0f} ms"))
        results.append(dict(model=model, files=len(file_rows), ours_words=n_o, fw_words=n_f, matched=n_m, errors=errors,
                            worst=[(fid, fs["all_median"]) for fid, _, fs, _, _ in worst[:3]], **s))
        per_file += [dict(model=model, id=fid, ours_words=c["ours_words"], fw_words=c["fw_words"], matched=c["matched"], **fs)
                     for fid, c, fs, _, _ in file_rows]

    fw_desc = (f"faster-whisper {args.fw_compute}, WhisperModel.transcribe(word_timestamps=True, beam_size={args.beam_size}, "
               f"language='en'" + (", vad_filter=True" if args.fw_vad else "")
               + (", condition_on_previous_text=False" if args.fw_no_condition else "") + ")")
    print(f"### Word timing: ours vs faster-whisper ({len(rows)} English files of evaldata/asr.tsv; target: median "
          f"|boundary difference| < {TARGET_MS:.0f} ms)\n")
    print(f"Ours: `worker transcribe FILE --model DIR {' '.join(flag)} --beam-size {args.beam_size} --batch-size "
          f"{args.ours_batch_size} --language en --format json` (Silero VAD, <= 30 s chunks, not conditioned on previous "
          f"text). Reference: {fw_desc}, in-process, same CTranslate2 weights. Hyphenated compounds joined (faster-whisper's "
          "'ill' + '-disposed' -> 'ill-disposed', as ours has them), words lower-cased, stripped of "
          "punctuation and matched with difflib.SequenceMatcher; differences over matched words, ms (20 ms = one "
          "frame of the cross-attention). Signed = median of "
          "ours - faster-whisper (> 0: ours later).\n")
    tab = []
    for r in results:
        ok = r["all_median"] == r["all_median"]
        verdict = ("yes" if r["all_median"] < TARGET_MS else "**no**") if ok else "–"
        note = "; ".join(r["errors"])[:200].replace("|", "/")
        if r["worst"]:
            note = (note + "; " if note else "") + "worst files: " + ", ".join(f"{fid} {ms:.0f}" for fid, ms in r["worst"])
        tab.append([r["model"], r["files"], f"{r['matched']} / {r['ours_words']} / {r['fw_words']}",
                    C.fmt(r["start_median"], 0), C.fmt(r["start_p90"], 0), C.fmt(r["end_median"], 0), C.fmt(r["end_p90"], 0),
                    f"**{C.fmt(r['all_median'], 0)}**", verdict, C.fmt(100 * r["within_20"], 1),
                    f"{C.fmt(r['signed_start'], 0)} / {C.fmt(r['signed_end'], 0)}",
                    note])
    print(C.md_table(["model", "files", "matched / ours / fw words", "start median", "start p90", "end median", "end p90",
                      "all boundaries median", "< 80 ms", "% boundaries <= 20 ms", "signed median start / end", "note"], tab))
    if args.per_file:
        print()
        print(C.md_table(["model", "file", "matched / ours / fw", "start median", "end median", "all median",
                          "signed start / end"],
                         [[p["model"], p["id"], f"{p['matched']} / {p['ours_words']} / {p['fw_words']}",
                           C.fmt(p["start_median"], 0), C.fmt(p["end_median"], 0), C.fmt(p["all_median"], 0),
                           f"{C.fmt(p['signed_start'], 0)} / {C.fmt(p['signed_end'], 0)}"] for p in per_file]))

    if checks:
        print("\n### openai-whisper's word-timing test on jfk.flac (tests/test_transcribe.py: \"Americans\" starts "
              "<= 1.8 s and ends >= 1.8 s; every word start < end)\n")
        ctab = []
        for model, od, fd in checks:
            for name, d in (("ours", od), ("faster-whisper", fd)):
                a = americans(d)
                bad = bad_words(d)
                passed = bool(a and a[0] <= 1.8 <= a[1] and bad == 0)
                ctab.append([model, name, C.fmt(a[0], 2) if a else "not found", C.fmt(a[1], 2) if a else "–",
                             f"{bad} / {len(d.get('word_segments') or [])}", "pass" if passed else "**FAIL**"])
        print(C.md_table(["model", "system", "\"Americans\" start s", "end s", "words with start >= end", "test"], ctab))
    for n in notes:
        print(f"\nNote: {n}")
    for d in dumps:
        print("\n" + d)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dict(results=results, per_file=per_file, fw=fw_desc, ours_flag=flag, raw=raw),
                                        indent=1, default=str))


if __name__ == "__main__":
    main()
