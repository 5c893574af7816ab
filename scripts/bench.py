"""Benchmarks of the monitor against its physical limit (MAX_CONCURRENCY / latency): reads per
second, API and DynamoDB calls per run, handler cold imports, peak memory and a monthly cost
estimate. Writes BENCHMARKS.md; `make bench ARGS=--quick` runs smaller sizes.

Each monitor run happens in a fresh child process (as a cold Lambda would), against the Bright
Data simulator and moto server hosted by this (parent) process, so the run has its interpreter to
itself and its peak RSS is its own."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "common"
FUNCTIONS = ("monitor", "slack_notifier", "intake")
OUTPUT = ROOT / "BENCHMARKS.md"
# Everything below this line in BENCHMARKS.md is written by hand and kept on regeneration.
ANALYSIS_MARKER = "<!-- hand-written analysis below: kept when `make bench` regenerates it -->"

T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
TOKEN = "bench-token-0123456789abcdef"  # the simulator's fake token
BENCH_COLLECTORS = 20
QUIET_COLLECTORS = 100
QUIET_LIVE_JOBS = 10
SEQUENTIAL_SAMPLE = 200
RUN_INTERVAL_MIN = 5
RUNS_PER_DAY = 24 * 60 // RUN_INTERVAL_MIN  # 288 at rate(5 minutes)
DAYS_PER_MONTH = 30


@dataclass(frozen=True)
class Prices:
    """us-east-1 list prices used for the estimate (see BENCHMARKS.md for their source)."""

    lambda_gb_second: float = 0.0000133334  # arm64
    lambda_request: float = 0.20 / 1e6
    ddb_write_unit: float = 0.625 / 1e6  # on-demand write request unit
    ddb_read_unit: float = 0.125 / 1e6  # on-demand read request unit
    sns_publish: float = 0.50 / 1e6
    logs_ingest_gb: float = 0.50


@dataclass(frozen=True)
class Workload:
    """Assumptions of the cost model, beyond what the benchmark measures."""

    collectors: int = 100
    reads_per_job: int = 7  # a job is live ~30 min: read on ~6 runs, plus the read that settles it
    lookback_days: int = 2  # LOOKBACK_DAYS default: a listing returns ~2.5 days of jobs
    memory_gb: float = 0.5  # MonitorFunction MemorySize 512
    alert_share: float = 0.02  # share of jobs that end up in an alert
    dynamodb_call_s: float = 0.010  # one BatchGet/BatchWrite round trip on real DynamoDB
    list_call_s: float = 0.3  # one /dca/collector/jobs page on the real API (assumed)
    concurrency: int = 16  # MAX_CONCURRENCY: collectors listed at the same time


# ---- child side: one monitor run, or a sequential loop of GETs ---------------------------------
def child_main(args: argparse.Namespace) -> None:
    if args.child == "run":
        _child_run(datetime.fromisoformat(args.now), Path(args.result))
    else:
        _child_sequential(Path(args.ids), Path(args.result))


def _rss_mb() -> float:
    """Peak RSS of this process so far, in MiB. On Linux ru_maxrss survives fork + exec (a child
    reports at least its parent's peak: here, the parent hosting moto), so the kernel's own
    per-address-space high-water mark VmHWM is read instead where it exists."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        status = ""
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    if match:
        return int(match.group(1)) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _child_run(now: datetime, result_path: Path) -> None:
    rss_start = _rss_mb()
    from job_alerts import factory, service
    from job_alerts.observability import logger, metrics
    from job_alerts.service import build_monitor

    rss_imported = _rss_mb()
    cfg = factory.settings()
    monitor = build_monitor(cfg, clock=lambda: now)
    phases: dict[str, float] = {}
    _time_stages(monitor, phases)
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    summary = monitor.run()
    run_s = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    # What run_once logs after a run: the log line and the EMF metrics blob (CloudWatch bytes).
    service.emit_metrics(summary, cfg)
    logger.info("run finished", extra={"summary": summary.to_dict()})
    metrics.flush_metrics()
    result = {
        "summary": summary.to_dict(),
        "run_s": run_s,
        "phases": phases,
        "cpu_s": (after.ru_utime + after.ru_stime) - (cpu.ru_utime + cpu.ru_stime),
        "rss_start_mb": rss_start,
        "rss_imported_mb": rss_imported,
        "rss_peak_mb": _rss_mb(),
    }
    result_path.write_text(json.dumps(result), encoding="utf-8")


def _time_stages(monitor: Any, phases: dict[str, float]) -> None:
    """Time the run's stages (see job_alerts.monitor) by wrapping what each one calls: discover;
    select (the live-jobs query); read; evaluate (judge and decide, including the alarm and
    baseline reads and the recorded decisions); persist. Names the monitor module imported are
    wrapped there, so `Monitor.run` picks the wrapped ones up."""
    from job_alerts import monitor as stages

    for name, phase in (("discover", "discover"), ("read_jobs", "read"), ("persist", "persist")):
        setattr(stages, name, _timed(getattr(stages, name), phase, phases))
    for name in ("judge_jobs", "judge_activity"):
        setattr(stages, name, _timed(getattr(stages, name), "evaluate", phases))
    for name in ("_baselines", "_decide_and_record"):
        setattr(monitor, name, _timed(getattr(monitor, name), "evaluate", phases))
    monitor.store.live_jobs = _timed(monitor.store.live_jobs, "select", phases)


def _timed(method: Callable[..., Any], name: str, phases: dict[str, float]) -> Callable[..., Any]:
    """Wall and CPU seconds of one phase (CPU of the whole process: phases run one at a time)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            return method(*args, **kwargs)
        finally:
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - started
            phases[f"{name}_cpu"] = phases.get(f"{name}_cpu", 0.0) + time.process_time() - cpu

    return wrapper


def _child_sequential(ids_path: Path, result_path: Path) -> None:
    from job_alerts import factory
    from job_alerts.brightdata import BrightDataClient

    cfg = factory.settings()
    ids = ids_path.read_text(encoding="utf-8").split()
    client = BrightDataClient(cfg.api_url, cfg.api_token or "", pool_maxsize=1)
    started = time.perf_counter()
    for job_id in ids:
        client.get_log(job_id)
    elapsed = time.perf_counter() - started
    result_path.write_text(json.dumps({"reads": len(ids), "seconds": elapsed}), encoding="utf-8")


# ---- parent side --------------------------------------------------------------------------------
@dataclass
class World:
    """The servers this process hosts, and the environment a child run needs to reach them."""

    sim: Any
    stack: Any
    env: dict[str, str]


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(LAYER)])
    env["POWERTOOLS_TRACE_DISABLED"] = "true"
    env["POWERTOOLS_SERVICE_NAME"] = "job-alerts"
    env["POWERTOOLS_METRICS_NAMESPACE"] = "BrightDataJobAlerts"
    return env


def _child(world: World, mode: str, *extra: str) -> tuple[dict[str, Any], int]:
    """Run a child; returns its result and the bytes it wrote to stdout (its log output)."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "scripts.bench", "--child", mode, "--result", str(result)]
        done = subprocess.run(  # checked below, with stderr shown
            [*cmd, *extra], cwd=ROOT, env=world.env, capture_output=True, timeout=900
        )
        if done.returncode != 0:
            sys.stderr.write(done.stderr.decode(errors="replace")[-4000:])
            raise SystemExit(f"child {mode} failed ({done.returncode})")
        return json.loads(result.read_text(encoding="utf-8")), len(done.stdout)


def _monitor_run(world: World, now: datetime) -> dict[str, Any]:
    world.sim.set_time(now)
    world.sim.reset_counts()
    result, log_bytes = _child(world, "run", "--now", now.isoformat())
    served = world.sim.requests
    result["log_bytes"] = log_bytes
    result["served"] = dict(Counter(r.endpoint for r in served))
    result["log_reads"] = dict(Counter(r.job_id for r in served if r.endpoint == "log"))
    return result


@contextmanager
def _world(moto_url: str, latency: float, concurrency: int, prefix: str) -> Iterator[World]:
    from local.simulator import BrightDataSimulator
    from local.stack import provision

    stack = provision(moto_url, prefix=prefix)
    with BrightDataSimulator(token=TOKEN, latency=latency, now=T0) as sim:
        env = _child_env(
            {
                **stack.env(),
                "BRIGHTDATA_API_URL": sim.url,
                "BRIGHTDATA_API_TOKEN": TOKEN,
                "MAX_CONCURRENCY": str(concurrency),
            }
        )
        yield World(sim=sim, stack=stack, env=env)


def _seed(world: World, live: int, settled: int) -> tuple[list[str], float]:
    """N running jobs (live in the table) and M done ones (already settled), spread over
    collectors; the table is written directly with BatchWrite and the collectors' listing state
    is saved, so the timed runs measure reading rather than first discovery."""
    from job_alerts.brightdata import BrightDataClient
    from job_alerts.models import CollectorMeta, JobRecord
    from job_alerts.state import StateStore

    sim, now = world.sim, T0
    created, started = now - timedelta(minutes=10), now - timedelta(minutes=9)
    records: list[JobRecord] = []
    live_ids: list[str] = []
    for n in range(live + settled):
        cid = f"c_bench_{n % BENCH_COLLECTORS:02d}"
        is_live = n < live
        job_id = f"j_live_{n:06d}" if is_live else f"j_done_{n:06d}"
        status = "running" if is_live else "done"
        sim.add_job(job_id, cid, status, created=created, started=started, inputs=100,
                    success=50 if is_live else 100, fails=0, lines=50 if is_live else 100,
                    pages=60, pages_left=40 if is_live else 0)  # fmt: skip
        records.append(
            JobRecord(
                job_id=job_id,
                collector_id=cid,
                first_seen=created + timedelta(microseconds=n * 1000),
                status=status,
                settled=not is_live,
                ttl=int((now + timedelta(days=30)).timestamp()),
            )
        )
        if is_live:
            live_ids.append(job_id)
    began = time.perf_counter()
    store = StateStore(world.stack.table_name, world.stack.client("dynamodb"))
    store.put_jobs(records)
    latency, sim.latency = sim.latency, 0.0
    with BrightDataClient(sim.url, TOKEN) as client:
        collectors = client.list_collectors()
    sim.latency = latency
    store.save_collector_meta(
        [
            CollectorMeta(c["id"], c["name"], last_run=str(c.get("last_run") or ""), listed_at=now)
            for c in collectors
        ]
    )
    return live_ids, time.perf_counter() - began


def _item_bytes(world: World, job_id: str) -> int:
    """DynamoDB's size of one stored job item (names + values), for the cost model."""
    item = world.stack.client("dynamodb").get_item(
        TableName=world.stack.table_name, Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}}
    )["Item"]
    size = 0
    for name, value in item.items():
        ((kind, raw),) = value.items()
        size += len(name.encode()) + (1 if kind == "BOOL" else len(str(raw).encode()))
    return size


def bench_size(moto_url: str, live: int, args: argparse.Namespace) -> dict[str, Any]:
    settled = max(1, live // 5)
    print(f"  {live} live jobs (+{settled} settled): seeding", flush=True)
    with _world(moto_url, args.latency, args.concurrency, f"bench-{live}") as world:
        live_ids, seed_s = _seed(world, live, settled)
        print(f"    seeded in {seed_s:.1f} s; run 1 (every job changed)", flush=True)
        first = _monitor_run(world, T0 + timedelta(minutes=5))
        print(f"    run 1: {first['run_s']:.1f} s; run 2 (nothing changed)", flush=True)
        second = _monitor_run(world, T0 + timedelta(minutes=10))
        item_bytes = _item_bytes(world, live_ids[0])
        sequential: dict[str, Any] | None = None
        if args.sequential_at == live:
            print(f"    sequential loop over {SEQUENTIAL_SAMPLE} reads", flush=True)
            with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
                handle.write("\n".join(live_ids[:SEQUENTIAL_SAMPLE]))
            try:
                sequential, _ = _child(world, "sequential", "--ids", handle.name)
            finally:
                Path(handle.name).unlink()
    live_set = set(live_ids)
    for run in (first, second):
        reads = run["log_reads"]
        run["live_read_once"] = set(reads) == live_set and set(reads.values()) == {1}
        run["settled_reads"] = sum(n for job_id, n in reads.items() if job_id not in live_set)
    return {
        "live": live,
        "settled": settled,
        "seed_s": seed_s,
        "runs": [first, second],
        "item_bytes": item_bytes,
        "sequential": sequential,
    }


def bench_quiet(moto_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """100 collectors, a few live jobs; runs every 5 minutes for an hour with nothing new."""
    minutes = list(range(0, 31 if args.quick else 61, RUN_INTERVAL_MIN))
    print(f"  {QUIET_COLLECTORS} collectors, {len(minutes)} runs", flush=True)
    runs = []
    with _world(moto_url, args.latency, args.concurrency, "bench-quiet") as world:
        created = T0 - timedelta(hours=1)
        for n in range(QUIET_COLLECTORS):
            cid = f"c_quiet_{n:03d}"
            world.sim.add_collector(cid, f"collector {n}")
            for k in range(2):
                world.sim.add_job(f"j_q{n:03d}_{k}", cid, "done", created=created, inputs=10,
                                  success=10, fails=0, lines=10)  # fmt: skip
        for n in range(QUIET_LIVE_JOBS):
            world.sim.add_job(f"j_qlive_{n:02d}", f"c_quiet_{n:03d}", "running",
                              created=created, inputs=10, success=5, fails=0, lines=5)  # fmt: skip
        for minute in minutes:
            result = _monitor_run(world, T0 + timedelta(minutes=minute))
            result["minute"] = minute
            runs.append(result)
    return {"collectors": QUIET_COLLECTORS, "live": QUIET_LIVE_JOBS, "runs": runs}


def bench_imports(runs: int) -> dict[str, Any]:
    """Each handler imported by a fresh interpreter (sys.path = function dir + layers/common,
    as in Lambda), against a bare `import boto3`; median wall and CPU time of `runs` runs.

    Two ways: with bytecode cached for everything (a private PYTHONPYCACHEPREFIX, warmed by one
    run; what a package shipped with .pyc files gets), and from source for our own package (no
    .pyc beside it, as in this checkout with PYTHONDONTWRITEBYTECODE and in a layer built
    without compiling: /opt is read-only, so Lambda would compile it on every cold start)."""
    probe = (
        "import sys; sys.path[:0] = [{fn!r}, {layer!r}]; import app; "
        "print('xray' if 'aws_xray_sdk' in sys.modules else 'no-xray')"
    )
    cases = {"boto3 (bare)": "import boto3; print('-')"}
    for name in FUNCTIONS:
        cases[f"functions/{name}/app.py"] = probe.format(
            fn=str(ROOT / "functions" / name), layer=str(LAYER)
        )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    base.pop("PYTHONPATH", None)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as prefix:
        cached = {k: v for k, v in base.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached["PYTHONPYCACHEPREFIX"] = prefix
        source = {**base, "PYTHONDONTWRITEBYTECODE": "1"}
        for code in cases.values():  # warm the private bytecode cache
            subprocess.run(
                [sys.executable, "-c", code], env=cached, capture_output=True, check=True
            )
        for mode, env in (("cached", cached), ("source", source)):
            for _ in range(runs):  # interleaved, so drift on a shared machine hits all alike
                for label, code in cases.items():
                    wall, cpu, out = _timed_child([sys.executable, "-c", code], env)
                    entry = results.setdefault(label, {"xray": False})
                    entry.setdefault(f"{mode}_wall", []).append(wall)
                    entry.setdefault(f"{mode}_cpu", []).append(cpu)
                    entry["xray"] = entry["xray"] or out.strip() == b"xray"
        results["_top"] = _import_profile(ROOT / "functions" / "monitor", cached)
    for label, entry in results.items():
        if label.startswith("_"):
            continue
        for key in ("cached_wall", "cached_cpu", "source_wall", "source_cpu"):
            entry[f"{key}_ms"] = statistics.median(entry[key]) * 1000
    return results


def _timed_child(cmd: list[str], env: dict[str, str]) -> tuple[float, float, bytes]:
    """Wall and CPU seconds of one child process, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu, done.stdout


def _import_profile(function_dir: Path, env: dict[str, str]) -> list[tuple[str, float]]:
    """What the monitor handler's import spends its time on (python -X importtime, cumulative
    ms): the handler's direct imports, and boto3 and Powertools wherever they are first loaded."""
    code = f"import sys; sys.path[:0] = [{str(function_dir)!r}, {str(LAYER)!r}]; import app"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], env=env, capture_output=True, check=True
    )
    rows: list[tuple[int, str, float]] = []
    for line in done.stderr.decode().splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", line)
        if match:
            rows.append((len(match.group(2)) // 2, match.group(3), int(match.group(1)) / 1000))
    # -X importtime lists a module after everything it imported: app's imports precede it.
    end = next(i for i, row in enumerate(rows) if row[:2] == (0, "app"))
    start = max((i for i, row in enumerate(rows[:end]) if row[0] == 0), default=-1) + 1
    below = rows[start:end]
    picked = [(name, ms) for depth, name, ms in below if depth == 1]
    for wanted in ("boto3", "aws_lambda_powertools", "urllib3"):
        picked += [(f"{name} (inside the above)", ms) for _, name, ms in below if name == wanted]
    return [("app", rows[end][2]), *sorted(picked, key=lambda r: -r[1])]


# ---- cost model ---------------------------------------------------------------------------------
def cost_estimate(
    jobs_per_day: int, read_rate: float, base_run_s: float, item_bytes: int, log_bytes: float,
    workload: Workload | None = None, prices: Prices | None = None,
) -> dict[str, Any]:  # fmt: skip
    w = workload or Workload()
    prices = prices or Prices()
    runs_month = RUNS_PER_DAY * DAYS_PER_MONTH
    new_per_run = jobs_per_day / RUNS_PER_DAY
    live_per_run = jobs_per_day * w.reads_per_job / RUNS_PER_DAY
    # Collectors listed: those whose last_run moved (new jobs, Poisson over collectors) on 5 of 6
    # runs; all of them on the 30-minute safety re-list.
    changed = w.collectors * (1 - math.exp(-new_per_run / w.collectors))
    listed = changed * 5 / 6 + w.collectors / 6
    window_jobs = jobs_per_day / w.collectors * (w.lookback_days + 0.5)
    pages = max(1, math.ceil(window_jobs / 500))
    # Ids looked up (consistent BatchGet): on the 30-minute full pass every listed id; on other
    # runs only ids queued since the previous listing plus the monitor's 1-hour overlap.
    recent_jobs = min(window_jobs, jobs_per_day / w.collectors * (5 + 60) / (24 * 60))
    batch_get_items = w.collectors / 6 * window_jobs + changed * 5 / 6 * recent_jobs
    wru_item = math.ceil(item_bytes / 1024)
    # Worst case: every live job changed since its last read, so each read is written back;
    # the sparse GSI (projection ALL) costs a second write of each live item.
    wru_run = new_per_run * 2 + live_per_run * wru_item * 2 + new_per_run * (wru_item + 1)
    gsi_rru = math.ceil(live_per_run * item_bytes / 4096) * 0.5  # eventually consistent
    fixed_rru = 4 + w.collectors * 0.05  # health, outbox, collector meta, alarms
    rru_run = gsi_rru + batch_get_items + fixed_rru
    duration = (
        base_run_s
        + live_per_run / read_rate
        # collectors are listed concurrently, MAX_CONCURRENCY at a time; a listing's pages in turn
        + math.ceil(listed / w.concurrency) * pages * w.list_call_s
        + (batch_get_items / 100 + live_per_run / 25) * w.dynamodb_call_s
    )
    lambda_cost = runs_month * duration * w.memory_gb * prices.lambda_gb_second
    requests_cost = runs_month * prices.lambda_request
    ddb_write_cost = runs_month * wru_run * prices.ddb_write_unit
    ddb_read_cost = runs_month * rru_run * prices.ddb_read_unit
    sns_cost = jobs_per_day * DAYS_PER_MONTH * w.alert_share * prices.sns_publish
    log_gb = runs_month * (log_bytes + 400) / 1e9  # + START/END/REPORT lines
    logs_cost = log_gb * prices.logs_ingest_gb
    total = lambda_cost + requests_cost + ddb_write_cost + ddb_read_cost + sns_cost + logs_cost
    return {
        "jobs_per_day": jobs_per_day, "live_per_run": live_per_run, "listed": listed,
        "pages": pages, "batch_get_items": batch_get_items, "duration_s": duration,
        "wru_run": wru_run, "rru_run": rru_run, "log_gb": log_gb, "lambda": lambda_cost,
        "requests": requests_cost, "ddb_write": ddb_write_cost, "ddb_read": ddb_read_cost,
        "sns": sns_cost, "logs": logs_cost, "total": total, "runs_month": runs_month,
    }  # fmt: skip


# ---- report -------------------------------------------------------------------------------------
def _machine() -> dict[str, str]:
    return {
        "uname": " ".join(platform.uname()),
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 else f"${value:.4f}"


def render(results: dict[str, Any], args: argparse.Namespace) -> str:
    c, latency = args.concurrency, args.latency
    limit = c / latency
    m = results["machine"]
    out = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`scripts/bench.py`"
        + (" --quick" if args.quick else "")
        + "). Everything above the hand-written analysis at the end is regenerated.",
        "",
        f"- Machine: `{m['uname']}`, {m['cpus']} CPUs, Python {m['python']}, {m['date']}",
        f"- Bright Data simulator with {latency * 1000:.0f} ms injected latency per request; moto "
        "server for DynamoDB/SNS; both hosted by the benchmark process. Each monitor run is a "
        "fresh child process (like a cold Lambda), so its timings and RSS are its own.",
        f"- MAX_CONCURRENCY C = {c}; the physical limit of one run is C/L = "
        f"{c}/{latency:g} s = **{limit:,.0f} reads/s**.",
        "",
        "## Read throughput",
        "",
        "Live jobs are seeded straight into the table with BatchWrite (setup, timed apart) and "
        "the collectors' listing state is saved, so run 1 reads every live job once and writes "
        "each back (all changed); run 2, five minutes later, finds nothing changed.",
        "",
        "| live jobs | setup (seed) s | read phase s | reads/s | share of C/L | whole run s "
        "| run reads/s | sequential loop s | speed-up |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    seq = next((s["sequential"] for s in results["sizes"] if s["sequential"]), None)
    seq_rate = seq["reads"] / seq["seconds"] if seq else None
    for size in results["sizes"]:
        run = size["runs"][0]
        read_s = run["phases"]["read"]
        rate = size["live"] / read_s
        seq_est = size["live"] / seq_rate if seq_rate else float("nan")
        out.append(
            f"| {_fmt(size['live'])} | {size['seed_s']:.1f} | {read_s:.2f} | {_fmt(rate)} "
            f"| {rate / limit:.2f} | {run['run_s']:.2f} | {_fmt(size['live'] / run['run_s'])} "
            f"| {_fmt(seq_est, 1)} (est.) | {seq_est / read_s:.1f}x |"
        )
    if seq:
        out += [
            "",
            f"Sequential loop: measured on a sample of {seq['reads']} GETs (one keep-alive "
            f"connection, the same client) = {seq['seconds']:.2f} s, i.e. "
            f"{seq['seconds'] / seq['reads'] * 1000:.1f} ms a read; the column above "
            "extrapolates that rate to each size (not run in full: 10,000 would take "
            f"~{10000 * seq['seconds'] / seq['reads']:.0f} s).",
        ]
    out += [
        "",
        "Phases of run 1 / run 2, wall s / CPU s of the run's process: discover "
        "(collectors_list + listings), select (the live-jobs GSI query; its wall time is moto's), "
        "read, evaluate (rules + alarm reads), persist (BatchWrite; moto again).",
        "",
        "| live jobs | run | discover | select | read | evaluate | persist | CPU ms per read |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in results["sizes"]:
        for i, run in enumerate(size["runs"], 1):
            p = run["phases"]
            cells = [
                f"{p.get(name, 0):.2f} / {p.get(name + '_cpu', 0):.2f}"
                for name in ("discover", "select", "read", "evaluate", "persist")
            ]
            per_read = p.get("read_cpu", 0) / size["live"] * 1000
            out.append(f"| {_fmt(size['live'])} | {i} | {' | '.join(cells)} | {per_read:.2f} |")
    cpu_read = _cost_inputs(results)["read_cpu_ms"]
    share = 512 / 1769  # Lambda gives one vCPU at 1,769 MB, in proportion below that
    out += [
        "",
        f"CPU per read (urllib3 + http.client + JSON + parse_job_log, all threads): "
        f"{cpu_read:.2f} ms on this machine. A 512 MB Lambda has ~{share:.2f} vCPU, so if its "
        f"core is as fast as this one, reads would be CPU-bound at ~{share / cpu_read * 1000:,.0f}"
        f"/s, below C/L = {limit:,.0f}/s: give the monitor >= "
        f"{math.ceil(limit * cpu_read / 1000 * 1769 / 64) * 64:,} MB to reach C/L with this "
        "core speed (measure on Lambda: Graviton cores differ).",
    ]
    out += [
        "",
        "## Calls per run",
        "",
        "Counted by the simulator (HTTP requests served) and by the store's op counters "
        "(DynamoDB operations: a Query page, GetItem, BatchGet or BatchWrite call, transaction "
        "= 1).",
        "",
        "| live jobs | settled jobs | run | /dca/log | one per live job | settled read "
        "| list calls | collectors_list | DDB reads | DDB writes | items written |",
        "|---:|---:|---:|---:|:---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in results["sizes"]:
        for i, run in enumerate(size["runs"], 1):
            ops, served = run["summary"]["state_ops"], run["served"]
            out.append(
                f"| {_fmt(size['live'])} | {_fmt(size['settled'])} | {i} "
                f"| {_fmt(served.get('log', 0))} | {'yes' if run['live_read_once'] else 'NO'} "
                f"| {run['settled_reads']} | {served.get('collector_jobs', 0)} "
                f"| {served.get('collectors_list', 0)} | {ops['reads']} | {ops['writes']} "
                f"| {_fmt(ops['items_written'])} |"
            )
    quiet = results["quiet"]
    out += [
        "",
        f"## Quiet runs: {quiet['collectors']} collectors, {quiet['live']} live jobs",
        "",
        "The first run discovers everything; then nothing starts or changes. A run every 5 "
        "minutes:",
        "",
        "| minute | collectors_list | list calls | /dca/log | other | DDB reads | DDB writes "
        "| run s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in quiet["runs"]:
        served, ops = run["served"], run["summary"]["state_ops"]
        other = sum(served.values()) - sum(
            served.get(k, 0) for k in ("collectors_list", "collector_jobs", "log")
        )
        out.append(
            f"| {run['minute']} | {served.get('collectors_list', 0)} "
            f"| {served.get('collector_jobs', 0)} | {served.get('log', 0)} | {other} "
            f"| {ops['reads']} | {ops['writes']} | {run['run_s']:.2f} |"
        )
    n_coll, n_live = quiet["collectors"], quiet["live"]
    relists = RUNS_PER_DAY // 6
    with_skip = RUNS_PER_DAY + relists * n_coll
    without = RUNS_PER_DAY * (1 + n_coll)
    out += [
        "",
        "Bright Data calls per day with nothing new (288 runs/day at rate(5 minutes)):",
        "",
        f"- with the last_run skip: {RUNS_PER_DAY} collectors_list + {relists} safety re-lists "
        f"(every 30 min, FULL_LIST_INTERVAL) x {n_coll} collectors = **{_fmt(with_skip)} "
        f"listing calls/day**, plus {RUNS_PER_DAY} x live jobs' logs ({n_live} here: "
        f"{_fmt(RUNS_PER_DAY * n_live)});",
        f"- listing every collector every run: {RUNS_PER_DAY} x (1 + {n_coll}) = "
        f"**{_fmt(without)} listing calls/day** (+ the same logs): the skip saves "
        f"{1 - with_skip / without:.0%}.",
    ]
    imports = results["imports"]
    boto = imports["boto3 (bare)"]
    out += [
        "",
        "## Cold import of each handler",
        "",
        'A fresh `python -c "import app"` (sys.path = function dir + layers/common), median '
        f"of {len(boto['cached_wall'])} interleaved runs, interpreter start-up included. "
        "*Bytecode cached*: .pyc for everything (a private PYTHONPYCACHEPREFIX warmed once), as "
        "when the layer ships compiled files. *Our package from source*: no .pyc for "
        "job_alerts (dependencies keep theirs), as in a layer built without compiling: /opt is "
        "read-only, so Lambda would compile it again on every cold start.",
        "",
        "| module | wall ms (bytecode cached) | vs bare boto3 | CPU ms | vs bare boto3 "
        "| wall ms (our package from source) | vs bare boto3 | aws_xray_sdk imported |",
        "|---|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for label, entry in imports.items():
        if label.startswith("_"):
            continue
        out.append(
            f"| {label} | {entry['cached_wall_ms']:.0f} "
            f"| {entry['cached_wall_ms'] / boto['cached_wall_ms']:.2f}x "
            f"| {entry['cached_cpu_ms']:.0f} "
            f"| {entry['cached_cpu_ms'] / boto['cached_cpu_ms']:.2f}x "
            f"| {entry['source_wall_ms']:.0f} "
            f"| {entry['source_wall_ms'] / boto['source_wall_ms']:.2f}x "
            f"| {'yes' if entry['xray'] else 'no'} |"
        )
    out += ["", "Biggest imports of the monitor handler (cumulative, one `-X importtime` run):", ""]
    out += [f"- `{name}`: {ms:.0f} ms" for name, ms in imports["_top"]]
    biggest = max(results["sizes"], key=lambda s: s["live"])
    big_run = biggest["runs"][0]
    out += [
        "",
        "## Peak memory",
        "",
        f"Monitor run tracking {_fmt(biggest['live'])} live (+{_fmt(biggest['settled'])} settled) "
        "jobs, peak RSS of the child process running it (VmHWM from /proc/self/status: on "
        "Linux `ru_maxrss` carries over fork + exec, so a child would report at least the "
        "benchmark process's own peak, moto included):",
        "",
        f"- after interpreter start: {big_run['rss_start_mb']:.0f} MB; after imports: "
        f"{big_run['rss_imported_mb']:.0f} MB; **peak over run 1: "
        f"{big_run['rss_peak_mb']:.0f} MB**; run 2: {biggest['runs'][1]['rss_peak_mb']:.0f} MB.",
    ]
    out += _render_costs(results)
    out += _render_goals(results, args)
    out += _render_scale(results, args)
    return "\n".join(out) + "\n"


def _cost_inputs(results: dict[str, Any]) -> dict[str, float]:
    sizes = sorted(results["sizes"], key=lambda s: s["live"])
    rated = next((s for s in sizes if s["live"] >= 2000), sizes[-1])
    quiet_runs = results["quiet"]["runs"][1:]
    return {
        "read_cpu_ms": rated["runs"][0]["phases"]["read_cpu"] / rated["live"] * 1000,
        "read_rate": rated["live"] / rated["runs"][0]["phases"]["read"],
        "base_run_s": statistics.median(r["run_s"] for r in quiet_runs),
        "item_bytes": float(rated["item_bytes"]),
        "log_bytes": statistics.median(r["log_bytes"] for r in quiet_runs),
    }


def _render_costs(results: dict[str, Any]) -> list[str]:
    inputs = _cost_inputs(results)
    w, p = Workload(), Prices()
    estimates = [
        cost_estimate(
            jobs,
            inputs["read_rate"],
            inputs["base_run_s"],
            int(inputs["item_bytes"]),
            inputs["log_bytes"],
        )
        for jobs in (1_000, 50_000)
    ]
    out = [
        "",
        "## Monthly cost estimate",
        "",
        "Prices (us-east-1, not re-verified online when this was generated, so these are the "
        f"figures used): Lambda arm64 ${p.lambda_gb_second} per GB-s and $0.20 per million "
        "requests; DynamoDB on-demand $0.625 per million write request units and $0.125 per "
        "million read request units; SNS $0.50 per million publishes; CloudWatch Logs ingestion "
        "$0.50 per GB. Free tiers ignored.",
        "",
        f"Measured inputs: read rate {inputs['read_rate']:,.0f} reads/s (2,000-job run), quiet "
        f"run {inputs['base_run_s']:.2f} s (fixed cost of a run on this machine, moto included), "
        f"stored live-job item {inputs['item_bytes']:.0f} bytes, "
        f"{inputs['log_bytes']:.0f} log bytes per run (the run_once log line + EMF metrics). "
        f"Assumed: {w.collectors} collectors, each job read on {w.reads_per_job} runs (live ~30 "
        f"min), LOOKBACK_DAYS {w.lookback_days}, {w.memory_gb * 1024:.0f} MB, "
        f"{w.alert_share:.0%} of jobs alerted, {w.list_call_s * 1000:.0f} ms per listing page and "
        f"{w.dynamodb_call_s * 1000:.0f} ms per DynamoDB batch call; every live read is written "
        "back (worst case); each job item write is doubled by the sparse GSI.",
        "",
        "| | 1,000 jobs/day | 50,000 jobs/day |",
        "|---|---:|---:|",
    ]
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("live jobs read per run (jobs/day x 7 / 288)", lambda e: _fmt(e["live_per_run"], 1)),
        ("collectors listed per run (avg)", lambda e: _fmt(e["listed"], 1)),
        ("listing pages per listed collector", lambda e: str(e["pages"])),
        ("job ids looked up (BatchGet) per run", lambda e: _fmt(e["batch_get_items"])),
        ("run duration s (model)", lambda e: f"{e['duration_s']:.2f}"),
        (
            "Lambda: 8,640 runs x s x 0.5 GB x $0.0000133334",
            lambda e: _usd(e["lambda"]),
        ),
        ("Lambda requests: 8,640 x $0.20/M", lambda e: _usd(e["requests"])),
        ("DynamoDB WRU per run -> 8,640 x WRU x $0.625/M", lambda e: (
            f"{_fmt(e['wru_run'])} -> {_usd(e['ddb_write'])}")),
        ("DynamoDB RRU per run -> 8,640 x RRU x $0.125/M", lambda e: (
            f"{_fmt(e['rru_run'])} -> {_usd(e['ddb_read'])}")),
        ("SNS: jobs x 30 x 2% x $0.50/M", lambda e: _usd(e["sns"])),
        ("CloudWatch Logs: GB x $0.50", lambda e: f"{e['log_gb']:.3f} GB -> {_usd(e['logs'])}"),
        ("**total per month**", lambda e: f"**{_usd(e['total'])}**"),
    ]  # fmt: skip
    for label, cell in rows:
        out.append(f"| {label} | {cell(estimates[0])} | {cell(estimates[1])} |")
    return out


def _render_goals(results: dict[str, Any], args: argparse.Namespace) -> list[str]:
    limit = args.concurrency / args.latency
    sizes = sorted(results["sizes"], key=lambda s: s["live"])
    at_2k = next((s for s in sizes if s["live"] >= 2000), sizes[-1])
    share = at_2k["live"] / at_2k["runs"][0]["phases"]["read"] / limit
    seq = next((s["sequential"] for s in sizes if s["sequential"]), None)
    speedup = (
        (at_2k["live"] * seq["seconds"] / seq["reads"]) / at_2k["runs"][0]["phases"]["read"]
        if seq
        else float("nan")
    )
    writes = max(s["runs"][1]["summary"]["state_ops"]["writes"] for s in sizes)
    imports = results["imports"]
    boto = imports["boto3 (bare)"]["cached_wall_ms"]
    worst = max(
        (e["cached_wall_ms"] / boto, label)
        for label, e in imports.items()
        if not label.startswith(("_", "boto3"))
    )
    peak = sizes[-1]["runs"][0]["rss_peak_mb"]
    one_log = all(r["live_read_once"] and not r["settled_reads"] for s in sizes for r in s["runs"])
    goals = [
        (
            f"reads/s at {_fmt(at_2k['live'])} jobs",
            ">= 0.8 of C/L",
            f"{share:.2f} of C/L",
            share >= 0.8,
        ),
        ("speed-up vs sequential loop", ">= 10x", f"{speedup:.1f}x", speedup >= 10),
        ("/dca/log calls", "1 per live job, 0 per settled", "as counted", one_log),
        ("DynamoDB writes, unchanged run", "0", str(writes), writes == 0),
        ("handler cold import, bytecode cached", "<= 1.5x bare boto3",
         f"{worst[0]:.2f}x ({worst[1]})",
         worst[0] <= 1.5),
        (f"peak RSS, {_fmt(sizes[-1]['live'])} tracked jobs", "<= 128 MB", f"{peak:.0f} MB",
         peak <= 128),
    ]  # fmt: skip
    out = ["", "## Goals", "", "| goal | target | measured | met |", "|---|---|---|:---:|"]
    for name, target, measured, met in goals:
        out.append(f"| {name} | {target} | {measured} | {'yes' if met else '**no**'} |")
    return out


def _render_scale(results: dict[str, Any], args: argparse.Namespace) -> list[str]:
    c, latency = args.concurrency, args.latency
    timeout_s, margin_s = 240, 20
    per_run = c / latency * (timeout_s - margin_s)
    measured = _cost_inputs(results)["read_rate"] * (timeout_s - margin_s)
    return [
        "",
        "## Scale past one run",
        "",
        f"One run reads at most C/L x (timeout - margin) = {c}/{latency:g} x ({timeout_s} - "
        f"{margin_s}) s = **{per_run:,.0f} reads** (at the measured rate: {measured:,.0f}). "
        "Past that the run stops starting reads when `remaining_ms` reaches the deadline margin, "
        "saves a live cursor (the sort key of the last job it started) and the next run begins "
        "right after it, wrapping around, so every live job is read within ceil(live / reads per "
        "run) runs and none is starved (`test_monitor_deadline_leaves_rest_for_next_run`). Jobs "
        "not read are counted as `jobs_deferred` (metric JobsDeferred): alarm on it being > 0 "
        "for several runs.",
        "",
        "Past one function: when live jobs per run stay above ~"
        f"{per_run * 0.5:,.0f} (half of one run's capacity, so a run has room for discovery "
        "and bursts) or the read latency grows, split the run into a coordinator and workers: "
        "the scheduled function discovers and pages the live-jobs index into batches of ~500 "
        "job ids sent to an SQS queue; a worker function (SQS event source, batch size 1, "
        "reserved concurrency W) reads, judges and persists its batch, using the same "
        "conditional-write claims, so two workers can never alert twice. Throughput becomes "
        f"W x C/L ({c}/{latency:g} = {c / latency:,.0f} reads/s per worker), bounded by "
        "Bright Data's rate limits rather than by Lambda. Raising MAX_CONCURRENCY (up to 256) "
        "is the cheaper first step, as long as the API's rate limit allows it.",
    ]


def write_report(text: str, path: Path) -> None:
    kept = "## Analysis\n\n_(not written yet)_\n"
    if path.exists():
        old = path.read_text(encoding="utf-8")
        if ANALYSIS_MARKER in old:
            kept = old.split(ANALYSIS_MARKER, 1)[1].lstrip("\n")
    path.write_text(f"{text}\n{ANALYSIS_MARKER}\n\n{kept}", encoding="utf-8")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="sizes 200 and 1,000; fewer runs")
    parser.add_argument("--sizes", help="comma-separated live-job counts (default 200,2000,10000)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--concurrency", type=int, default=16, help="MAX_CONCURRENCY")
    parser.add_argument("--import-runs", type=int, default=7)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--child", choices=("run", "sequential"), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    parser.add_argument("--ids", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    default = "200,1000" if args.quick else "200,2000,10000"
    args.sizes = [int(s) for s in (args.sizes or default).split(",")]
    args.sequential_at = args.sizes[0]
    if args.quick:
        args.import_runs = min(args.import_runs, 5)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child_main(args)
        return
    # As in pytest (pythonpath): the shared package lives in the layer, not in site-packages.
    if str(LAYER) not in sys.path:
        sys.path.insert(0, str(LAYER))
    from local.stack import MotoServer

    began = time.perf_counter()
    results: dict[str, Any] = {"machine": _machine()}
    print(f"cold imports ({args.import_runs} runs each)", flush=True)
    results["imports"] = bench_imports(args.import_runs)
    with MotoServer() as moto:
        print("read throughput", flush=True)
        results["sizes"] = [bench_size(moto.url, n, args) for n in args.sizes]
        print("quiet runs", flush=True)
        results["quiet"] = bench_quiet(moto.url, args)
    write_report(render(results, args), args.output)
    print(f"wrote {args.output} in {time.perf_counter() - began:.0f} s", flush=True)


if __name__ == "__main__":
    main()
