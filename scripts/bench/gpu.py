#!/usr/bin/env python3
"""The CUDA path measured: our engine beside faster-whisper (CTranslate2) on one NVIDIA GPU, both
in float16, on the 10-minute input. Driven by gpu.sh (which checks for a GPU and builds first).

    gpu.py bench [--models tiny.en,base,large-v3-turbo,large-v3] [--configs batch,seq]
                 [--budget 300] [--timeout 120] [--json OUT]
        runs each configuration once per model and prints the tables (Markdown)
    gpu.py report JSON      the tables again from a saved --json file (no GPU needed)
    gpu.py selftest         the parsers and the report on made-up numbers (no GPU needed)

Per run: wall time from process start to exit (model load included) / audio duration = RTF, peak
RSS (wait4, as speed.py), and peak GPU memory from nvidia-smi polled every 100 ms: the
`used_memory` of the compute processes that appeared during the run (nvidia-smi
--query-compute-apps), or, where nvidia-smi shows no processes (a container's PID namespace), the
GPU's `memory.used` above its level before the run. Each row says which it is. The same method for
both systems; CTranslate2 has no peak-memory counter of its own and torch's would see only ours.

Models: tiny.en and base (models/), and the random-weight large-v3 / large-v3-turbo CTranslate2
directories of large-shapes.sh when var/bench/large-shapes/NAME/ct2 is complete. Their text is
garbage and decoding may run to the token limit, so those rows show cost at that shape, not the
speed of real weights. The language is given (en) to every model so that no run detects it.
"""
import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as C  # noqa: E402

LARGE_SHAPES = C.BENCH_DIR / "large-shapes"
LARGE = ("large-v3-turbo", "large-v3")
DEFAULT_MODELS = "tiny.en,base," + ",".join(LARGE)
POLL_S = 0.1
RANDOM_NOTE = "random weights (large-shapes.sh): garbage text, decode lengths differ"

# configuration key -> (label, beam, batch, ours' extra flags)
CONFIGS = {
    # faster-whisper's BatchedInferencePipeline decodes without timestamp tokens (one segment per
    # VAD chunk); ours does the same with --without-timestamps, as speed.py's like-for-like row.
    "batch": ("batched 8 beam 1", 1, 8, ["--without-timestamps"]),
    "seq": ("sequential beam 5", 5, 1, []),
}


# --- nvidia-smi --------------------------------------------------------------------------------

def smi(*query: str) -> str:
    return subprocess.run(["nvidia-smi", *query, "--format=csv,noheader,nounits"], check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=10).stdout


def parse_gpus(text: str) -> List[str]:
    """`index, name, memory.total, driver_version` lines -> one description per GPU."""
    out = []
    for line in text.splitlines():
        f = [x.strip() for x in line.split(",")]
        if len(f) >= 4 and f[0].isdigit():
            out.append(f"GPU {f[0]}: {f[1]}, {f[2]} MiB, driver {f[3]}")
    return out


def gpu_lines() -> List[str]:
    return parse_gpus(smi("--query-gpu=index,name,memory.total,driver_version"))


def parse_apps(text: str) -> Dict[int, int]:
    """`pid, used_memory` lines (MiB) -> {pid: MiB}; lines nvidia-smi cannot fill ([N/A]) skipped."""
    apps: Dict[int, int] = {}
    for line in text.splitlines():
        f = [x.strip() for x in line.split(",")]
        if len(f) == 2 and f[0].isdigit() and f[1].isdigit():
            apps[int(f[0])] = apps.get(int(f[0]), 0) + int(f[1])
    return apps


def parse_used(text: str) -> int:
    """`memory.used` of GPU 0 in MiB."""
    return int(text.splitlines()[0].strip())


class MemoryTrack:
    """Peak GPU memory of one run from samples: of the processes absent before it started when
    nvidia-smi names any, else of the whole GPU above its level before the run."""

    def __init__(self, apps_before: Dict[int, int], used_before: int):
        self.ignore = set(apps_before)
        self.used_before = used_before
        self.peak_process = 0
        self.peak_device = 0
        self.samples = 0

    def add(self, apps: Dict[int, int], used: int):
        self.samples += 1
        self.peak_process = max(self.peak_process, sum(m for p, m in apps.items() if p not in self.ignore))
        self.peak_device = max(self.peak_device, used - self.used_before)

    def result(self) -> Tuple[Optional[int], str]:
        if self.peak_process:
            return self.peak_process, "process"
        if self.samples:
            return self.peak_device, "GPU above idle"
        return None, "no sample"


class Poller(threading.Thread):
    """Feeds a MemoryTrack from nvidia-smi every POLL_S until stopped."""

    def __init__(self):
        super().__init__(daemon=True)
        self.track = MemoryTrack(self.apps(), self.used())
        self.halt = threading.Event()
        self.error: Optional[str] = None

    @staticmethod
    def apps() -> Dict[int, int]:
        return parse_apps(smi("--query-compute-apps=pid,used_memory"))

    @staticmethod
    def used() -> int:
        return parse_used(smi("--query-gpu=memory.used"))

    def run(self):
        while not self.halt.is_set():
            t0 = time.monotonic()
            try:
                self.track.add(self.apps(), self.used())
            except (subprocess.SubprocessError, OSError, ValueError, IndexError) as e:
                self.error = f"nvidia-smi: {e}"
            self.halt.wait(max(0.0, POLL_S - (time.monotonic() - t0)))

    def stop(self):
        self.halt.set()
        self.join()


# --- the runs ----------------------------------------------------------------------------------

def models(names: List[str]) -> List[tuple]:
    """(name, directory, note) for each model there is; a missing large one is (name, None, why)."""
    out = []
    for name in names:
        if name in LARGE:
            d = LARGE_SHAPES / name / "ct2"
            ok = (d / "model.bin").is_file() and (d / ".made-by").is_file()
            out.append((name, d if ok else None, RANDOM_NOTE if ok else f"{d} not made: run scripts/bench/large-shapes.sh"))
        else:
            out.append((name, C.model_dir(name), ""))
    return out


def ours_cmd(audio: Path, model_dir: Path, beam: int, batch: int, extra: List[str]) -> List[str]:
    return C.ours_cmd(audio, str(model_dir), beam, batch, "en",
                      ["--device", "cuda", "--compute-type", "float16", *extra])


def fw_cmd(audio: Path, model_dir: Path, beam: int, batch: int) -> List[str]:
    return [C.PYTHON, str(C.FW_RUN), "transcribe", str(audio), "--model", str(model_dir),
            "--beam-size", str(beam), "--batch-size", str(batch), "--language", "en",
            "--device", "cuda", "--compute-type", "float16"]


def failure(m: C.Measured) -> str:
    """Why a run failed, in a line: anyhow's `Error:` and `Caused by:` lines (ours), a Python
    traceback's last line (faster-whisper), else common's exit code and stderr tail."""
    lines = [x.rstrip() for x in m.stderr.splitlines() if x.strip()]
    if m.error:
        return m.error
    for i, line in enumerate(lines):
        if line.startswith("Error: "):
            chain = [line[len("Error: "):]]
            for more in lines[i + 1:]:
                if more.startswith(("Stack backtrace", "Caused by:")):
                    if more.startswith("Stack backtrace"):
                        break
                    continue
                chain.append(more.strip().lstrip("0123456789: "))
            return f"exit {m.rc}: " + ": ".join(chain)
    flush = [x for x in lines if not x.startswith(" ")]
    if flush and any(x.startswith("Traceback") for x in lines):
        return f"exit {m.rc}: {flush[-1]}"
    return m.why()


def measure(system: str, cmd: List[str], env: dict, timeout: float, duration: float) -> dict:
    poller = Poller()
    poller.start()
    try:
        m = C.run_measured(cmd, env=env, timeout=timeout)
    finally:
        poller.stop()
    peak, method = poller.track.result()
    r = dict(system=system, wall_s=m.wall_s, rtf=m.wall_s / duration, peak_rss_mb=m.peak_rss_mb,
             peak_gpu_mib=peak, gpu_method=method, samples=poller.track.samples)
    if poller.error:
        r["note"] = poller.error
    if not m.ok:
        r["unavailable"] = f"failed: {failure(m)}"
        return r
    try:
        doc = C.parse_transcript(m.stdout)
    except ValueError as e:
        r["unavailable"] = f"unreadable JSON on stdout: {e}"
        return r
    r["words"] = len(C.transcript_text(doc).split())
    if doc.get("timing"):
        r["inner_rtf"] = doc["timing"]["transcribe_s"] / duration
    return r


def bench(args) -> dict:
    import make_long_audio
    audio = args.audio or make_long_audio.build(10, make_long_audio.DEFAULT_AUDIO, C.BENCH_DIR, 0.5)
    duration = C.audio_duration(audio)
    env = C.thread_env(args.threads)
    env["RUST_BACKTRACE"] = "0"  # a failed run's reason, not its stack
    deadline = time.monotonic() + args.budget
    results = []
    for name, model_dir, note in models([m.strip() for m in args.models.split(",") if m.strip()]):
        for key in [c.strip() for c in args.configs.split(",") if c.strip()]:
            label, beam, batch, extra = CONFIGS[key]
            for system in ("ours", "faster-whisper"):
                row = dict(model=name, label=label, system=system)
                left = deadline - time.monotonic()
                if model_dir is None:
                    row["unavailable"] = note
                elif system == "ours" and not C.worker_bin().exists():
                    row["unavailable"] = f"not built: {C.worker_bin()} missing"
                elif left < 10:
                    row["unavailable"] = f"skipped: the {args.budget:.0f}-s budget was spent"
                else:
                    cmd = (ours_cmd(audio, model_dir, beam, batch, extra) if system == "ours"
                           else fw_cmd(audio, model_dir, beam, batch))
                    row.update(measure(system, cmd, env, min(args.timeout, left), duration))
                    if note:
                        row["note"] = "; ".join(x for x in (row.get("note"), note) if x)
                    print(f"[gpu] {name} {system} {label}: " + (row.get("unavailable") or
                          f"{row['wall_s']:.1f} s, RTF {row['rtf']:.3f}, peak GPU {row['peak_gpu_mib']} MiB "
                          f"({row['gpu_method']})"), file=sys.stderr)
                results.append(row)
    return dict(machine=C.machine_line(), gpus=gpu_lines(), audio=str(audio), audio_s=duration,
                threads=args.threads, results=results)


# --- the report --------------------------------------------------------------------------------

def report(out: dict) -> str:
    head = (f"### CUDA float16, ours beside faster-whisper ({Path(out['audio']).name}, "
            f"{out['audio_s'] / 60:.1f} min, one run each, {out['threads']} CPU threads; wall time includes "
            f"model load; peak GPU memory from nvidia-smi every {POLL_S * 1000:.0f} ms)\n\n"
            f"{out['machine']}\n" + "".join(f"\n{g}" for g in out["gpus"]) + "\n")
    rows = []
    for r in out["results"]:
        system = r["system"] if r["system"] == "ours" else "faster-whisper (CTranslate2)"
        if r.get("unavailable"):
            rows.append([r["model"], system, r["label"], "–", "–", "–", "–", "–",
                         r["unavailable"][:160].replace("|", "/")])
            continue
        gpu = "–" if r["peak_gpu_mib"] is None else f"{r['peak_gpu_mib']} ({r['gpu_method']})"
        note = r.get("note", "")
        if r.get("inner_rtf") is not None:
            note = (note + "; " if note else "") + f"RTF without load {r['inner_rtf']:.3f}"
        rows.append([r["model"], system, r["label"], C.fmt(r["wall_s"]), C.fmt(r["rtf"], 3), gpu,
                     C.fmt(r["peak_rss_mb"], 0), r["words"], note])
    table = C.md_table(["model", "system", "configuration", "wall s", "RTF", "peak GPU MiB", "peak RSS MB",
                        "words", "note"], rows)
    by = {(r["model"], r["label"], r["system"]): r for r in out["results"]}
    ratios = []
    for (model, label, system), o in by.items():
        f = by.get((model, label, "faster-whisper"))
        if system != "ours" or not f or o.get("unavailable") or f.get("unavailable"):
            continue
        gpu = ("–" if not o["peak_gpu_mib"] or not f["peak_gpu_mib"]
               else C.fmt(o["peak_gpu_mib"] / f["peak_gpu_mib"], 2))
        ratios.append([model, label, C.fmt(o["rtf"] / f["rtf"], 2), gpu])
    text = head + "\n" + table
    if ratios:
        text += "\n\n" + C.md_table(["model", "configuration", "time ratio (ours/fw)", "peak GPU ratio (ours/fw)"],
                                    ratios)
    return text


def selftest():
    """Parsers and report on made-up numbers; asserts, prints nothing to keep."""
    assert parse_gpus("0, NVIDIA H100 80GB HBM3, 81559, 580.65.06\n") == \
        ["GPU 0: NVIDIA H100 80GB HBM3, 81559 MiB, driver 580.65.06"]
    assert parse_gpus("") == [] and parse_gpus("No devices were found\n") == []
    assert parse_apps("123, 500\n456, [N/A]\n123, 20\n") == {123: 520}
    assert parse_used("1024\n") == 1024
    t = MemoryTrack({7: 100}, used_before=300)
    t.add({7: 100, 9: 50}, 350)
    t.add({7: 100, 9: 900}, 1300)
    t.add({7: 100}, 400)
    assert t.result() == (900, "process")
    t = MemoryTrack({}, used_before=300)  # a container: nvidia-smi names no process
    for used in (300, 2300, 1300):
        t.add({}, used)
    assert t.result() == (2000, "GPU above idle")
    assert MemoryTrack({}, 0).result() == (None, "no sample")
    ours = C.Measured(1, 1.0, 1.0, "", "Error: transcribing x\n\nCaused by:\n    invalid device: no CUDA\n\n"
                      "Stack backtrace:\n   0: main\n")
    assert failure(ours) == "exit 1: transcribing x: invalid device: no CUDA", failure(ours)
    fw = C.Measured(1, 1.0, 1.0, "", "Traceback (most recent call last):\n  File \"x\", line 1\n"
                    "RuntimeError: CUDA failed with error no CUDA-capable device is detected\n")
    assert failure(fw) == "exit 1: RuntimeError: CUDA failed with error no CUDA-capable device is detected"

    def row(model, system, wall, gpu, **kw):
        return dict(model=model, label="batched 8 beam 1", system=system, wall_s=wall, rtf=wall / 600,
                    peak_rss_mb=1000.0, peak_gpu_mib=gpu, gpu_method="process", words=1300, **kw)
    out = dict(machine="16 cores (made-up CPU)", gpus=["GPU 0: made-up GPU, 81559 MiB, driver 0"],
               audio="/x/long-10min.wav", audio_s=600.0, threads=4,
               results=[row("tiny.en", "ours", 12.0, 800), row("tiny.en", "faster-whisper", 6.0, 400, inner_rtf=0.008),
                        dict(model="large-v3", label="batched 8 beam 1", system="ours",
                             unavailable="failed: exit 1: CUDA | was asked for")])
    text = report(json.loads(json.dumps(out)))  # as it comes back from a saved file
    lines = text.splitlines()
    assert "GPU 0: made-up GPU" in text and "long-10min.wav, 10.0 min" in text, text
    assert "| tiny.en | ours | batched 8 beam 1 | 12.0 | 0.020 | 800 (process) | 1000 | 1300 |  |" in lines, text
    assert any(line.startswith("| tiny.en | faster-whisper (CTranslate2) |") and "RTF without load 0.008" in line
               for line in lines), text
    assert "| large-v3 | ours | batched 8 beam 1 | – | – | – | – | – | failed: exit 1: CUDA / was asked for |" in lines
    assert "| tiny.en | batched 8 beam 1 | 2.00 | 2.00 |" in lines, text
    print("gpu.py selftest: ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench")
    b.add_argument("--models", default=DEFAULT_MODELS, help=f"comma list (default {DEFAULT_MODELS})")
    b.add_argument("--configs", default="batch", help=f"comma list of {', '.join(CONFIGS)} (default batch)")
    b.add_argument("--audio", type=Path, help="instead of var/bench/long-10min.wav")
    b.add_argument("--threads", type=int, default=4, help="CPU threads of both (default 4)")
    b.add_argument("--timeout", type=float, default=120, help="seconds per run (default 120)")
    b.add_argument("--budget", type=float, default=300, help="seconds for all runs; later ones are skipped")
    b.add_argument("--json", type=Path, help="write the results here")
    r = sub.add_parser("report")
    r.add_argument("json", type=Path)
    sub.add_parser("selftest")
    a = ap.parse_args()
    if a.cmd == "bench":
        unknown = set(c.strip() for c in a.configs.split(",")) - set(CONFIGS)
        if unknown:
            ap.error(f"unknown configuration {sorted(unknown)}: {', '.join(CONFIGS)}")
        out = bench(a)
        text = report(out)
        print(text)
        if a.json:
            a.json.parent.mkdir(parents=True, exist_ok=True)
            a.json.write_text(json.dumps(out, indent=1, default=str))
            a.json.with_suffix(".md").write_text(text + "\n")
    elif a.cmd == "report":
        print(report(json.loads(a.json.read_text())))
    else:
        selftest()


if __name__ == "__main__":
    main()
