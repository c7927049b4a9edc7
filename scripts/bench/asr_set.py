#!/usr/bin/env python3
"""Checks the committed ASR development set (benchdata/asr/) and summarises it: verifies every
file against SHA256SUMS (exit 1 on a missing or changed file), then prints minutes, files and
reference words per source and per split.

    python3 scripts/bench/asr_set.py                      # benchdata/asr/manifest.tsv
    python3 scripts/bench/asr_set.py --set path/to/manifest.tsv

Words are whitespace-separated tokens of the raw reference (Chinese and Japanese references
count as few "words": their WER is in effect a phrase error rate).
"""
import argparse
import csv
import hashlib
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def verify(folder: Path) -> list:
    problems = []
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        p = folder / name
        if not p.is_file():
            problems.append(f"missing: {name}")
        elif hashlib.sha256(p.read_bytes()).hexdigest() != digest:
            problems.append(f"checksum differs: {name}")
    return problems


def duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                          "-of", "default=nw=1:nk=1", str(path)], check=True, stdout=subprocess.PIPE, text=True)
    return float(out.stdout.strip())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", type=Path, default=ROOT / "benchdata" / "asr" / "manifest.tsv")
    a = ap.parse_args()
    folder = a.set.parent
    problems = verify(folder)
    for p in problems:
        print(p, file=sys.stderr)
    with open(a.set, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    per = defaultdict(lambda: [0, 0.0, 0, set()])  # (split, source) -> files, seconds, words, languages
    for r in rows:
        k = per[(r["split"], r["source"])]
        k[0] += 1
        k[1] += duration(folder / r["audio"])
        k[2] += len(r["reference"].split())
        k[3].add(r["language"])
    print("| split | source | languages | files | minutes | words |\n|---|---|---|---|---|---|")
    totals = defaultdict(lambda: [0, 0.0, 0])
    for (split, source), (n, s, w, langs) in sorted(per.items()):
        print(f"| {split} | {source} | {','.join(sorted(langs))} | {n} | {s / 60:.2f} | {w} |")
        for key in (split, "all"):
            totals[key][0] += n
            totals[key][1] += s
            totals[key][2] += w
    for key, (n, s, w) in sorted(totals.items()):
        print(f"| **{key}** | | | {n} | {s / 60:.2f} | {w} |")
    print(f"\nchecksums: {'OK' if not problems else f'{len(problems)} problem(s)'} "
          f"({folder / 'SHA256SUMS'})")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
