"""Shared helpers of the benchmark scripts: paths, the two systems' command lines, measured
sub-processes (wall time and peak RSS), the evaluation manifest, Whisper normalisation and WER."""
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

ROOT = Path(__file__).resolve().parents[2]
# The benchmark set (larger than the test fixtures in tests/data/): the folder $EVALDATA names, by
# default ../shared/evaldata beside the repository, or the repository's own tests/data (the same
# manifest layout) where that folder is absent, so that a clone elsewhere still runs. Every
# benchmark script takes it from here. The broader ASR development set is benchdata/asr/ (asr.py --set).
_SHARED_EVALDATA = ROOT.parent / "shared" / "evaldata"
EVALDATA = Path(os.environ.get("EVALDATA", _SHARED_EVALDATA if _SHARED_EVALDATA.is_dir() else ROOT / "tests" / "data"))
ASR_SET = ROOT / "benchdata" / "asr" / "manifest.tsv"
BENCH_DIR = Path(os.environ.get("BENCH_DIR", ROOT / "var" / "bench"))
MODELS_DIR = Path(os.environ.get("MODELS_DIR", ROOT / "models"))
PYTHON = sys.executable
FW_RUN = Path(__file__).resolve().parent / "fw_run.py"

# model name -> CTranslate2 directory (both systems load the same weights)
MODELS = {
    "tiny.en": MODELS_DIR / "whisper-tiny.en",
    "base": MODELS_DIR / "whisper-base",
}


def model_dir(name: str) -> Path:
    return MODELS.get(name, Path(name))


def english_only(name: str) -> bool:
    return name.endswith(".en") or Path(name).name.endswith(".en")


def worker_bin() -> Path:
    return Path(os.environ.get("WORKER_BIN", ROOT / "target" / "release" / "worker"))


def thread_env(threads: int) -> dict:
    """Environment for a measured child: thread pools capped, libtorch on the library path."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS",
                "TORCH_NUM_THREADS", "CT2_NUM_THREADS"):
        env[var] = str(threads)
    env["HF_HUB_OFFLINE"] = "1"
    libs = [str(p / "lib") for p in (ROOT / "libtorch",) if (p / "lib").is_dir()]
    if libs:
        env["LD_LIBRARY_PATH"] = ":".join(libs + [env.get("LD_LIBRARY_PATH", "")]).rstrip(":")
    return env


def ours_cmd(audio, model, beam: int, batch: int, language: Optional[str], extra: List[str] = ()) -> List[str]:
    cmd = [str(worker_bin()), "transcribe", str(audio), "--model", str(model_dir(model)),
           "--models-dir", str(ROOT / "models"), "--beam-size", str(beam), "--batch-size", str(batch), "--format", "json",
           *extra]
    if language:
        cmd += ["--language", language]
    return cmd


def fw_cmd(audio, model, beam: int, batch: int, language: Optional[str], compute_type: str,
           threads: int, vad: Optional[bool] = None) -> List[str]:
    cmd = [PYTHON, str(FW_RUN), "transcribe", str(audio), "--model", str(model_dir(model)),
           "--beam-size", str(beam), "--batch-size", str(batch), "--compute-type", compute_type,
           "--threads", str(threads), "--format", "json"]
    if language:
        cmd += ["--language", language]
    if vad is not None:
        cmd += ["--vad" if vad else "--no-vad"]
    return cmd


@dataclass
class Measured:
    rc: int
    wall_s: float
    peak_rss_mb: float
    stdout: str
    stderr: str
    error: Optional[str] = None
    cpu_s: float = 0.0  # user + system CPU time of the child: work done, whatever else runs
    others_cpu_s: float = 0.0  # CPU time the rest of the machine used meanwhile (contention)

    @property
    def ok(self) -> bool:
        return self.rc == 0 and self.error is None

    def why(self) -> str:
        if self.error:
            return self.error
        tail = " | ".join(self.stderr.strip().splitlines()[-3:])
        return f"exit {self.rc}: {tail}"[:300]


def busy_cpu_s() -> float:
    """Non-idle CPU seconds of the whole machine since boot (/proc/stat), 0 where unavailable."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait
    except (OSError, ValueError, IndexError):
        return 0.0


def run_measured(cmd: List[str], env: Optional[dict] = None, timeout: Optional[float] = None) -> Measured:
    """Runs cmd to completion; returns its wall time and peak resident set (os.wait4's ru_maxrss,
    the high-water mark the kernel kept for that child, sampled by nothing)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        busy0 = busy_cpu_s()
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        except OSError as e:
            return Measured(-1, 0.0, 0.0, "", "", error=f"cannot start {cmd[0]}: {e}")
        deadline = None if timeout is None else t0 + timeout
        timed_out = False
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                proc.kill()
                timed_out = True
                pid, status, ru = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        busy = busy_cpu_s() - busy0
        proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        m = Measured(proc.returncode, wall, ru.ru_maxrss / 1024.0,
                     out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                     cpu_s=ru.ru_utime + ru.ru_stime)
        m.others_cpu_s = max(0.0, busy - m.cpu_s) if busy else 0.0
        if timed_out:
            m.error = f"timed out after {timeout:.0f} s"
        return m


def transcript_text(doc: dict) -> str:
    return " ".join(s.get("text", "").strip() for s in doc.get("segments", [])).strip()


def parse_transcript(stdout: str) -> dict:
    doc = json.loads(stdout)
    if not isinstance(doc, dict) or not isinstance(doc.get("segments"), list):
        raise ValueError("JSON without a segments list")
    return doc


# --- manifest, normalisation, WER ------------------------------------------------------------

@dataclass
class Row:
    id: str
    audio: Path
    language: str
    reference: str
    split: str = ""  # benchdata/asr: "tune" or "report"; empty for evaldata's asr.tsv
    source: str = ""  # benchdata/asr: the corpus or origin the row comes from


def load_manifest(path: Optional[Path] = None) -> List[Row]:
    path = path or EVALDATA / "asr.tsv"
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [Row(r["id"], path.parent / r["audio"], r["language"].strip(), r["reference"],
                (r.get("split") or "").strip(), (r.get("source") or "").strip()) for r in rows]


def audio_duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                          "-of", "default=nw=1:nk=1", str(path)],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    return float(out.strip())


_normalisers = {}


def normaliser(language: str):
    """openai-whisper's own normalisers: English for English, the basic one otherwise."""
    key = "en" if language.lower().startswith("en") else "basic"
    if key not in _normalisers:
        from whisper.normalizers import BasicTextNormalizer, EnglishTextNormalizer
        _normalisers[key] = EnglishTextNormalizer() if key == "en" else BasicTextNormalizer()
    return _normalisers[key]


@dataclass
class Score:
    errors: int = 0
    ref_words: int = 0
    sub: int = 0
    dele: int = 0
    ins: int = 0

    def add(self, other: "Score"):
        self.errors += other.errors
        self.ref_words += other.ref_words
        self.sub += other.sub
        self.dele += other.dele
        self.ins += other.ins

    @property
    def wer(self) -> float:
        return 100.0 * self.errors / self.ref_words if self.ref_words else float("nan")


def score(ref_norm: str, hyp_norm: str) -> Score:
    ref, hyp = ref_norm.split(), hyp_norm.split()
    if not ref:
        return Score(len(hyp), 0, 0, 0, len(hyp))
    if not hyp:
        return Score(len(ref), len(ref), 0, len(ref), 0)
    import jiwer
    o = jiwer.process_words(" ".join(ref), " ".join(hyp))
    return Score(o.substitutions + o.deletions + o.insertions, len(ref),
                 o.substitutions, o.deletions, o.insertions)


# Languages written without spaces between words: scored per character (a character error rate),
# as Whisper's own evaluation does, since a whitespace "word" there is a whole phrase.
CHAR_LANGUAGES = {"zh", "ja", "th", "lo", "my", "km", "yue"}


def score_lang(ref_norm: str, hyp_norm: str, language: str) -> Score:
    """score(), per character for CHAR_LANGUAGES (spaces dropped), per word otherwise."""
    if language.lower().split("-")[0] in CHAR_LANGUAGES:
        return score(" ".join(ref_norm.replace(" ", "")), " ".join(hyp_norm.replace(" ", "")))
    return score(ref_norm, hyp_norm)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt(x, nd=1):
    if x is None or (isinstance(x, float) and x != x):
        return "–"
    return f"{x:.{nd}f}"


def md_table(headers: List[str], rows: List[List[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


# The instruction-set extensions that decide how fast matrix code runs on a CPU, in the order
# they are named (speed figures are kept per CPU class: README, issue 19).
SPEED_FLAGS = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"]


def cpu_class(flags: List[str]) -> str:
    """The class a speed row is filed under: AMX, AVX512-VNNI/BF16, AVX512-VNNI, AVX512, AVX2-only."""
    if "amx_tile" in flags:
        return "AMX"
    if "avx512_vnni" in flags:
        return "AVX512-VNNI/BF16" if "avx512_bf16" in flags else "AVX512-VNNI"
    if "avx512f" in flags:
        return "AVX512"
    return "AVX2-only" if "avx2" in flags else "pre-AVX2"


def machine_line() -> str:
    """Cores, CPU model, its speed-relevant flags and class: printed with every figure."""
    import platform
    cpu = platform.processor() or platform.machine()
    flags: List[str] = []
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                present = set(line.split(":", 1)[1].split())
                flags = [f for f in SPEED_FLAGS if f in present]
    except OSError:
        pass
    return (f"{os.cpu_count()} cores ({cpu}; {' '.join(flags) or 'no AVX2'}; class {cpu_class(flags)}), "
            f"Python {platform.python_version()}")
