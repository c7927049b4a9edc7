#!/usr/bin/env python3
"""Chaos run (issue 20): jobs keep flowing while workers are SIGKILLed, Redis is wiped and
PostgreSQL crashes; afterwards every job must have finished exactly once.

Everything runs on loopback in a temporary directory, with this run's own PostgreSQL cluster
(initdb + pg_ctl, as the `postgres` user when we are root) and its own redis-server, so both can be
crashed; the api and worker binaries are copied there first, so a rebuild next door cannot swap
them. A DB-side audit (triggers installed in this run's database, nothing in the migrations)
records every status change and every result write with its time: a job whose final state or
result was written twice is a duplicate, whatever the processes logged.

Exit status 1 when a job was lost (not finished at the end), finished twice, has no result
although it succeeded, or when the api answered 500 (any time), 503 outside the PostgreSQL
outage, or did not answer at all. See scripts/bench/README.md.
"""
import argparse
import glob
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
# Short fixtures (1.5 to 11 s of speech each): the longer ones would only slow the run down.
FIXTURES = ["samples/jfk.flac"] + sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "tests/data").glob("lib*/*") if p.suffix in (".flac", ".wav")
)
TERMINAL = ("succeeded", "failed", "canceled")

# Installed into this run's database only: every status change and every result write, committed
# in the same transaction as the write itself.
AUDIT_SQL = """
CREATE TABLE chaos_audit (
    id bigserial PRIMARY KEY, job_id uuid NOT NULL, event text NOT NULL, attempt integer,
    worker_id text, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION chaos_audit_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO chaos_audit (job_id, event, attempt, worker_id) VALUES (NEW.id, NEW.status, NEW.attempt, NEW.worker_id);
    RETURN NULL;
END $$;
CREATE TRIGGER chaos_audit_status AFTER UPDATE OF status ON jobs FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION chaos_audit_status();
CREATE FUNCTION chaos_audit_result() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO chaos_audit (job_id, event) VALUES (NEW.job_id, 'result ' || lower(TG_OP));
    RETURN NULL;
END $$;
CREATE TRIGGER chaos_audit_result AFTER INSERT OR UPDATE ON job_results FOR EACH ROW
    EXECUTE FUNCTION chaos_audit_result();
"""


def log(msg: str) -> None:
    print(f"\033[1m[chaos {time.strftime('%H:%M:%S')}]\033[0m {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, condition, timeout: float, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


class Postgres:
    """This run's own cluster. initdb refuses root, so as root it runs as the `postgres` user."""

    def __init__(self, tmp: Path):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
        if not bins:
            raise RuntimeError("no /usr/lib/postgresql/*/bin/pg_ctl (apt-get install postgresql)")
        self.bin = Path(bins[-1]).parent
        self.dir = tmp / "pg"
        self.port = free_port()
        self.dir.mkdir()
        self.as_user = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.url = f"postgres://postgres@127.0.0.1:{self.port}"

    def ctl(self, *args: str) -> None:
        subprocess.run(self.as_user + [str(self.bin / args[0]), *args[1:]], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def init(self) -> None:
        self.ctl("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        self.start()

    def start(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c max_connections=200"
        self.ctl("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "server.log"), "-w", "-o", opts, "start")

    def crash(self) -> None:
        self.ctl("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        try:
            self.ctl("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")
        except subprocess.CalledProcessError:
            pass

    def sql(self, query: str, db: str = "chaos") -> list:
        """Rows as lists of strings (psql's unaligned output)."""
        out = subprocess.run([str(self.bin / "psql"), "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                              f"{self.url}/{db}", "-c", query],
                             check=True, capture_output=True, text=True, timeout=30).stdout
        return [line.split("\t") for line in out.splitlines() if line]


class Service:
    """A child process with its log file; killed with its group on exit."""

    def __init__(self, name: str, cmd: list, env: dict, log_path: Path):
        self.name = name
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT,
                                     start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.alive():
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class Record:
    """Every HTTP answer the clients saw, with its time."""

    def __init__(self):
        self.lock = threading.Lock()
        self.answers = []  # (sent at, answered at, what, status or None for no answer)
        self.codes = {}  # "503 database_unavailable" -> count: the error codes of 5xx answers

    def add(self, sent: float, what: str, status, response=None) -> None:
        with self.lock:
            self.answers.append((sent, time.time(), what, status))
            if response is not None and status >= 500:
                try:
                    code = response.json()["error"]["code"]
                except (ValueError, KeyError, TypeError):
                    code = "?"
                key = f"{status} {code}"
                self.codes[key] = self.codes.get(key, 0) + 1


def http(record: Record, session: requests.Session, what: str, method: str, url: str, **kw):
    sent = time.time()
    try:
        r = session.request(method, url, timeout=30, **kw)
    except requests.RequestException:
        record.add(sent, what, None)
        return None
    record.add(sent, what, r.status_code, r)
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=200, help="jobs to submit (default 200)")
    ap.add_argument("--workers", type=int, default=3, help="worker processes (default 3)")
    ap.add_argument("--duration", type=float, default=150, help="seconds of submitting and chaos (default 150)")
    ap.add_argument("--kills", type=int, default=12, help="worker SIGKILLs (default 12)")
    ap.add_argument("--drain", type=float, default=300, help="seconds to wait for the last jobs afterwards (default 300)")
    ap.add_argument("--preset", default="LOW_LATENCY", help="preset of the jobs (default LOW_LATENCY)")
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs) for inspection")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    # SIGTERM and SIGHUP unwind through the `finally` below like Ctrl-C, so that the cluster,
    # redis-server, api and workers (each in its own session) never outlive the run.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))

    tmp = Path(tempfile.mkdtemp(prefix="chaos."))
    tmp.chmod(0o755)  # the postgres user reaches its cluster inside
    bins = tmp / "bin"
    bins.mkdir()
    for name in ("api", "worker"):
        src = Path(os.environ.get(f"{name.upper()}_BIN", ROOT / "target/release" / name))
        if not src.exists():
            log(f"{src} is missing: cargo build --release -p api -p worker")
            return 2
        shutil.copy2(src, bins / name)
    if not (ROOT / "models/whisper-tiny.en").is_dir():
        log("models/whisper-tiny.en is missing: scripts/setup-models.sh")
        return 2

    (tmp / "config").mkdir()
    pg = Postgres(tmp)
    redis_port, api_port = free_port(), free_port()
    services = []
    workers = {}  # slot -> Service
    try:
        log(f"PostgreSQL {pg.bin.parent.name} on :{pg.port}, Redis on :{redis_port}, api on :{api_port}, in {tmp}")
        pg.init()
        (tmp / "redis").mkdir()
        redis_cmd = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--dir", str(tmp / "redis")]
        services.append(Service("redis", redis_cmd, dict(os.environ), tmp / "redis.log"))
        redis_cli = ["redis-cli", "-p", str(redis_port)]
        wait_for("redis", lambda: subprocess.run(redis_cli + ["ping"], capture_output=True, text=True).stdout.strip() == "PONG", 20)

        env = dict(os.environ)
        env.update({
            "APP_DATABASE__URL": f"{pg.url}/chaos", "APP_DATABASE__MAX_CONNECTIONS": "16",
            "APP_REDIS__URL": f"redis://127.0.0.1:{redis_port}", "APP_REDIS__KEY_PREFIX": "chaos:",
            "APP_API__HOST": "127.0.0.1", "APP_API__PORT": str(api_port), "APP_API__WORKERS": "2",
            "APP_STORAGE__DIR": str(tmp / "audio"), "APP_INPUTS__PATH_ROOTS": str(tmp / "inputs"),
            "APP_WORKER__MODELS_DIR": str(ROOT / "models"),
            # The settings built into the binaries plus these: config/ edited since the build cannot
            # disagree with them.
            "APP_CONFIG_DIR": str(tmp / "config"),
            # Shorter than the defaults (30 s) so that a run recovers from many kills in minutes;
            # the mechanisms are the same.
            "APP_QUEUE__LEASE_SECS": "10", "APP_QUEUE__HEARTBEAT_SECS": "2", "APP_QUEUE__REAPER_INTERVAL_SECS": "2",
            "APP_QUEUE__DISPATCH_INTERVAL_SECS": "10", "APP_QUEUE__WORKER_TIMEOUT_SECS": "10",
            "RUST_LOG": os.environ.get("RUST_LOG", "info"),
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        })
        if (ROOT / "libtorch/lib").is_dir():
            env["LD_LIBRARY_PATH"] = ":".join(filter(None, [str(ROOT / "libtorch/lib"), env.get("LD_LIBRARY_PATH")]))
        base = f"http://127.0.0.1:{api_port}"
        services.append(Service("api", [str(bins / "api"), "serve"], env, tmp / "api.log"))
        api = services[-1]

        def api_ready():
            if not api.alive():
                raise RuntimeError(f"the api exited; see {tmp / 'api.log'}")
            try:
                return requests.get(f"{base}/ready", timeout=2).ok
            except requests.RequestException:
                return False

        wait_for("the api", api_ready, 120, 0.5)
        pg.sql(AUDIT_SQL)

        def start_worker(slot: int) -> Service:
            wenv = dict(env, APP_WORKER__WORK_DIR=str(tmp / "work" / str(slot)))
            w = Service(f"worker{slot}", [str(bins / "worker")], wenv, tmp / f"worker{slot}.log")
            workers[slot] = w
            return w

        for slot in range(args.workers):
            start_worker(slot)
        exits = []  # processes that ended without being killed: each is a finding

        def supervise():
            for slot, w in list(workers.items()):
                if not w.alive():
                    exits.append(f"worker {slot} (pid {w.proc.pid}) exited with {w.proc.returncode}")
                    log(exits[-1] + "; restarting it")
                    w.log.close()
                    start_worker(slot)
            if not api.alive() and not any(e.startswith("api") for e in exits):
                exits.append(f"api exited with {api.proc.returncode}")
                log(exits[-1])
        wait_for("the workers", lambda: len(pg.sql("SELECT id FROM workers")) >= args.workers, 120, 0.5)
        log(f"{args.workers} workers up; submitting {args.jobs} jobs over {args.duration:.0f} s while the chaos runs")

        record = Record()
        jobs = {}  # id -> (fixture, submitted at)
        jobs_lock = threading.Lock()
        stop = threading.Event()
        events = []  # (time, kind, detail)
        pg_window = []  # [crash time, restart time]

        def submitter():
            s = requests.Session()
            interval = args.duration * 0.9 / args.jobs
            for i in range(args.jobs):
                fixture = FIXTURES[i % len(FIXTURES)]
                key = str(uuid.uuid4())
                data = (ROOT / fixture).read_bytes()
                while not stop.is_set():
                    r = http(record, s, "submit", "POST", f"{base}/v1/jobs", headers={"Idempotency-Key": key},
                             files={"file": (Path(fixture).name, data)}, data={"preset": args.preset})
                    if r is not None and r.status_code == 202:
                        with jobs_lock:
                            jobs[r.json()["id"]] = (fixture, time.time())
                        break
                    time.sleep(0.5)  # retried with the same key: the api must not create a second job
                time.sleep(interval)

        def probe():
            # A read that needs PostgreSQL (a list is never cached): when is the api itself back?
            s = requests.Session()
            while not stop.is_set():
                http(record, s, "probe", "GET", f"{base}/v1/jobs", params={"limit": 1})
                time.sleep(0.2)

        statuses = {}

        def poller():
            s = requests.Session()
            while not stop.is_set():
                with jobs_lock:
                    pending = [j for j in jobs if statuses.get(j) not in TERMINAL]
                for j in pending:
                    r = http(record, s, "status", "GET", f"{base}/v1/jobs/{j}")
                    if r is not None and r.status_code == 200:
                        statuses[j] = r.json()["status"]
                time.sleep(1)

        def busy_slots():
            try:
                running = {w for (w,) in pg.sql("SELECT worker_id FROM jobs WHERE status = 'running'")}
            except subprocess.SubprocessError:
                return set()
            return {slot for slot, w in workers.items() if any(f"-{w.proc.pid}-" in r for r in running)}

        def chaos(t0: float):
            plan = [(args.duration * 0.25, "redis"), (args.duration * 0.5, "postgres"), (args.duration * 0.75, "redis")]
            gap = args.duration * 0.9 / args.kills
            plan += [(5 + gap * k + rng.uniform(0, gap * 0.8), "kill") for k in range(args.kills)]
            for at, kind in sorted(plan):
                while time.time() - t0 < at:
                    supervise()
                    time.sleep(0.1)
                if kind == "redis":
                    subprocess.run(redis_cli + ["flushall"], check=True, capture_output=True)
                    events.append((time.time(), "redis FLUSHALL", ""))
                    log("Redis wiped (FLUSHALL)")
                elif kind == "postgres":
                    crashed = time.time()
                    pg.crash()
                    events.append((crashed, "PostgreSQL crash", "pg_ctl stop -m immediate"))
                    log("PostgreSQL crashed (stop -m immediate); restarting in 5 s")
                    time.sleep(5)
                    starting = time.time()
                    pg.start()
                    log(f"PostgreSQL restarted (pg_ctl start -w took {time.time() - starting:.1f} s: crash recovery)")
                    pg_window[:] = [crashed, time.time()]
                    events.append((time.time(), "PostgreSQL restarted", ""))
                else:
                    busy = busy_slots()
                    slot = rng.choice(sorted(busy)) if busy and rng.random() < 0.75 else rng.randrange(args.workers)
                    w = workers[slot]
                    w.kill()
                    mid_job = slot in busy
                    events.append((time.time(), "worker SIGKILL", f"slot {slot} pid {w.proc.pid}{' mid-job' if mid_job else ''}"))
                    log(f"SIGKILL worker {slot} (pid {w.proc.pid}{', mid-job' if mid_job else ''})")
                    time.sleep(rng.uniform(0.5, 4))
                    start_worker(slot)

        t0 = time.time()
        threads = [threading.Thread(target=f, daemon=True) for f in (submitter, probe, poller)]
        for t in threads:
            t.start()
        chaos(t0)
        threads[0].join()
        chaos_end = time.time()
        log(f"chaos over after {chaos_end - t0:.0f} s ({len(jobs)} jobs accepted); draining")
        deadline = time.time() + args.drain
        while time.time() < deadline:
            with jobs_lock:
                left = [j for j in jobs if statuses.get(j) not in TERMINAL]
            if not left:
                break
            supervise()
            time.sleep(1)
        drained = time.time()
        stop.set()
        for t in threads[1:]:
            t.join()

        # The audit and the logs, straight from PostgreSQL.
        finals = {}
        results = {}
        for job_id, event, n in pg.sql("SELECT job_id, event, count(*) FROM chaos_audit GROUP BY 1, 2"):
            if event in TERMINAL:
                finals[job_id] = finals.get(job_id, 0) + int(n)
            elif event.startswith("result"):
                results[job_id] = results.get(job_id, 0) + int(n)
        closing = dict(pg.sql("SELECT job_id, count(*) FROM job_logs WHERE worker_id <> 'reaper' AND worker_id <> 'api' "
                              "AND (message LIKE 'succeeded:%' OR message LIKE 'failed (%' OR message = 'canceled' "
                              "OR message LIKE 'canceled;%') GROUP BY 1"))
        rows = pg.sql("SELECT id, status, attempt, coalesce(error_code, ''), "
                      "extract(epoch FROM created_at), extract(epoch FROM finished_at) FROM jobs")
        db_jobs = {r[0]: r for r in rows}
        audit = [(float(at), j, e) for j, e, at in pg.sql("SELECT job_id, event, extract(epoch FROM at) FROM chaos_audit ORDER BY at")]

        s = requests.Session()
        no_result = []
        for j in jobs:
            if db_jobs.get(j, [None, None])[1] == "succeeded":
                r = http(record, s, "result", "GET", f"{base}/v1/jobs/{j}/result", params={"format": "txt"})
                if r is None or r.status_code != 200 or not r.text.strip():
                    no_result.append(j)

        accepted = set(jobs)
        unknown = set(db_jobs) - accepted  # a job the clients were never told of: a retried submission made two
        by_status = {}
        for j in accepted:
            st = db_jobs[j][1] if j in db_jobs else "missing"
            by_status[st] = by_status.get(st, 0) + 1
        lost = [j for j in accepted if j not in db_jobs or db_jobs[j][1] not in TERMINAL]
        dup_final = [j for j, n in finals.items() if n > 1]
        dup_result = [j for j, n in results.items() if n > 1]
        dup_closing = [j for j, n in closing.items() if int(n) > 1]
        failed_codes = {}
        for j in accepted:
            if j in db_jobs and db_jobs[j][1] == "failed":
                failed_codes[db_jobs[j][3]] = failed_codes.get(db_jobs[j][3], 0) + 1
        attempts = {}
        for j in accepted:
            if j in db_jobs:
                a = int(db_jobs[j][2])
                attempts[a] = attempts.get(a, 0) + 1

        # HTTP answers: 5xx by kind, 503 to requests sent during the PostgreSQL outage (from the crash
        # to the probe's first 2xx after the restart) apart.
        answers = sorted(record.answers)
        outage = None
        if pg_window:
            back = min((end for _, end, what, st in answers if what == "probe" and end > pg_window[1] and st and st < 300),
                       default=None)
            outage = (pg_window[0], back or float("inf"))
        counts = {"500": 0, "503 in PostgreSQL outage": 0, "503 outside": 0, "other 5xx": 0, "no answer": 0}
        for t, _, what, st in answers:
            if st is None:
                counts["no answer"] += 1
            elif st == 500:
                counts["500"] += 1
            elif st == 503:
                counts["503 in PostgreSQL outage" if outage and outage[0] <= t <= outage[1] else "503 outside"] += 1
            elif st >= 500:
                counts["other 5xx"] += 1
        by_what = {}
        for _, _, what, st in answers:
            if st is None or st >= 500:
                by_what.setdefault(what, {}).setdefault(str(st), 0)
                by_what[what][str(st)] += 1

        def first_after(t, event, created_after=None):
            for at, j, e in audit:
                if at > t and e == event and (created_after is None or float(db_jobs[j][4]) > created_after):
                    return at - t, j
            return None, None

        recovery = []
        for t, kind, _ in events:
            if kind == "redis FLUSHALL":
                claim, _ = first_after(t, "running")
                finish, _ = first_after(t, "succeeded")
                new_claim, j = first_after(t, "running", created_after=t)
                new_wait = (new_claim + t - float(db_jobs[j][4])) if j else None
                recovery.append((f"Redis FLUSHALL at +{t - t0:.0f} s", {
                    "next claim s": claim, "next job finished s": finish,
                    "first job submitted after it: submit to claim s": new_wait}))
            elif kind == "PostgreSQL restarted":
                finish, _ = first_after(t, "succeeded")
                recovery.append((f"PostgreSQL crash at +{pg_window[0] - t0:.0f} s, down {pg_window[1] - pg_window[0]:.1f} s", {
                    "api 2xx again after restart s": (outage[1] - t) if outage and outage[1] != float("inf") else None,
                    "api 2xx again after crash s": (outage[1] - outage[0]) if outage and outage[1] != float("inf") else None,
                    "next job finished after restart s": finish}))

        kills = [d for _, k, d in events if k == "worker SIGKILL"]
        figures = {
            "jobs submitted": len(accepted), "succeeded": by_status.get("succeeded", 0),
            "failed": by_status.get("failed", 0), "canceled": by_status.get("canceled", 0),
            "lost": len(lost), "jobs created but never acknowledged": len(unknown),
            "audited final states": sum(finals.values()), "audited result writes": sum(results.values()),
            "closing log lines": sum(int(n) for n in closing.values()),
            "final state written twice": len(dup_final), "result written twice": len(dup_result),
            "closing log line twice": len(dup_closing), "succeeded without result": len(no_result),
            "failed by code": failed_codes, "attempts": dict(sorted(attempts.items())),
            "worker kills": len(kills), "kills mid-job": sum("mid-job" in k for k in kills),
            "processes that exited on their own": exits,
            "http answers": len(answers), "5xx and no answer": counts, "5xx by request": by_what,
            "5xx error codes": record.codes,
            "recovery": dict(recovery), "chaos s": round(chaos_end - t0, 1), "drain s": round(drained - chaos_end, 1),
        }
        print(json.dumps(figures, indent=2, default=lambda x: round(x, 2) if isinstance(x, float) else str(x)))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(figures, indent=2))
        for j in lost[:10]:
            log(f"lost: {j} {db_jobs.get(j)}")
        for j in (dup_final + dup_result + dup_closing)[:10]:
            log(f"duplicate: {j}: " + ", ".join(f"{e} at {at:.2f}" for at, jj, e in audit if jj == j))
        bad = (len(lost) + len(dup_final) + len(dup_result) + len(dup_closing) + len(no_result) + len(unknown)
               + counts["500"] + counts["503 outside"] + counts["other 5xx"] + counts["no answer"]
               + sum(e.startswith("api") for e in exits))
        log("PASS" if bad == 0 else "FAIL")
        if args.keep or bad:
            args.keep = True
        return 0 if bad == 0 else 1
    finally:
        for w in workers.values():
            w.kill()
        for svc in reversed(services):
            svc.kill(signal.SIGTERM)
        pg.stop()
        if args.keep:
            log(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
