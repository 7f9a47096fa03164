"""``make bench``: time each stage of the pipeline at a given scale, in a scratch directory.

Stages: generate the exports, bulk-load the history, full dbt build, a back-test of monthly
cut-offs (``--backtest-months``), one daily DAG run with ``airflow dags test`` (with each task's
duration), and the same day's work again without Airflow (``leadscore run``: extract, gates, dbt,
publish, report), whose difference to the DAG run is the orchestration overhead. Then, on that
day's data: the engagement reference query (``leadscore.reference``) beside the dbt models it
stands for, with their agreement; the warehouse and serving-copy sizes; the latency of a typical
BI query on the serving copy; and each stage's peak memory.

Every stage says how its cost grows (``GROWS_WITH``; docs/performance.md explains each).
Writes ``bench/results/scale-<scale>.json``. ``--table`` renders every results file into the
growth table of docs/performance.md. Never asserts a time: it measures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import stat
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from leadscore import config
from leadscore.progress import command_line_logging

RESULTS_DIR = config.PROJECT_ROOT / "bench" / "results"
DOC = config.PROJECT_ROOT / "docs" / "performance.md"
#: The growth table sits between these lines of DOC; the rest of the page is written by hand.
TABLE_BEGIN = "<!-- growth-table:begin (python -m leadscore.bench --table) -->"
TABLE_END = "<!-- growth-table:end -->"
#: Scales the table always has a column for (a placeholder until they are measured).
TABLE_SCALES = ((1.0, 1.0), (10.0, 1.0), (100.0, 1.0), (100.0, 2.7))


def run_name(scale: float, event_rate: float = 1.0) -> str:
    """``scale 10``, or ``scale 100, events ×2.7`` when the events per contact are scaled."""
    return f"scale {scale:g}" + (f", events ×{event_rate:g}" if event_rate != 1 else "")


def results_name(scale: float, event_rate: float = 1.0) -> str:
    rate = f"-events-{event_rate:g}" if event_rate != 1 else ""
    return f"scale-{scale:g}{rate}.json"


def _make_args(scale: float, event_rate: float) -> str:
    rate = f" EVENT_RATE={event_rate:g}" if event_rate != 1 else ""
    return f"SCALE={scale:g}{rate}"


#: How each stage's cost grows (docs/performance.md, "How each stage grows"):
#: delta = the rows delivered for the day; entities = the number of contacts and companies
#: (or a fixed window of their events); history = everything kept so far (every delivered row,
#: every scored date), so it grows every day even at a fixed number of entities.
GROWS_WITH = {
    "generate": "history",
    "initial load": "history",
    "full build": "history",
    "backtest per cut-off": "history",
    "daily run (work)": "history",
    "raw gate": "delta",
    "dbt (daily)": "history",
    "score gate": "entities",
    "publish": "entities",
    "report": "history",
    "daily DAG run (wall)": "history",
    "engagement reference query": "history",
    "engagement dbt models": "history",
    "warehouse size": "history",
    "serving copy size": "history",
    "BI query: top 100 open leads of one owner": "history",
}
#: The dbt model the engagement reference stands for (with everything upstream of it).
ENGAGEMENT_NODE = "model.leadscore.int_contact_engagement"
#: Who owns a lead: whom the newest handover signal routed it to (seed lead_routing).
_OWNERS = """
with owners as (
    select entity_id as contact_id, arg_max(owner, score_date) as owner
    from marts.score_signals
    where signal_type = 'handover' and entity_type = 'contact'
    group by entity_id
)
"""
#: A typical BI query on the serving copy: an owner's top 100 open leads (not customers).
OPEN_LEADS_OF_OWNER = (
    _OWNERS
    + """
select leads.contact_id, leads.account_id, leads.lead_score, leads.grade,
    leads.lifecycle_stage, leads.top_reasons
from marts.lead_scores as leads
inner join owners on leads.contact_id = owners.contact_id
where owners.owner = $owner and leads.lifecycle_stage != 'customer'
order by leads.lead_score desc, leads.contact_id
limit 100
"""
)
#: The owner the bench asks for: the one with most open leads.
BUSIEST_OWNER = (
    _OWNERS
    + """
select owners.owner, count(*) as leads
from marts.lead_scores as leads
inner join owners on leads.contact_id = owners.contact_id
where leads.lifecycle_stage != 'customer'
group by owners.owner
order by leads desc, owners.owner
limit 1
"""
)
BI_REPEATS = 5


class PeakMemory:
    """Peak resident memory (RSS) of this process and all its children (or of the children
    only: a stage run as a child process), sampled by a thread (psutil) while a stage runs.
    Pages shared by processes count once per process: an upper bound."""

    def __init__(self, *, children_only: bool = False, every: float = 0.2) -> None:
        import psutil

        self._process = psutil.Process()
        self._children_only = children_only
        self._every = every
        self._stop = threading.Event()
        self.peak = 0

    def _sample(self) -> None:
        import psutil

        total = 0
        children = self._process.children(recursive=True)
        for proc in children if self._children_only else [self._process, *children]:
            with suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                total += proc.memory_info().rss
        self.peak = max(self.peak, total)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self._sample()

    def __enter__(self) -> PeakMemory:
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


class Bench:
    """The results of one bench run: stages with their value, unit, growth and peak memory."""

    def __init__(self, scale: float, days: int) -> None:
        self.results: dict[str, Any] = {
            "scale": scale,
            "days": days,
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": _commit(),
            "machine": {
                "cpus": os.cpu_count(),
                "memory_gb": round(_total_memory() / 2**30, 1),
                "platform": platform.platform(),
            },
            "stages": {},
            "details": {},
        }
        self.stages: dict[str, dict] = self.results["stages"]
        self.details: dict[str, Any] = self.results["details"]

    def record(self, name: str, value: float, unit: str, **extra: Any) -> None:
        self.stages[name] = {
            "value": value,
            "unit": unit,
            "grows_with": GROWS_WITH.get(name),
            **extra,
        }
        peak = extra.get("peak_rss_mb")
        memory = f"   peak {peak:,.0f} MB" if peak is not None else ""
        print(f"  {name:<44} {value:>10,.2f} {unit}{memory}", flush=True)

    @contextmanager
    def stage(self, name: str, *, children_only: bool = False) -> Iterator[None]:
        """Time a stage and sample its peak memory (``children_only``: it runs as a child
        process, whose memory is what counts, not the bench's own)."""
        print(f"> {name} ...", flush=True)
        with PeakMemory(children_only=children_only) as memory:
            began = time.perf_counter()
            yield
            seconds = round(time.perf_counter() - began, 2)
        self.record(name, seconds, "s", peak_rss_mb=round(memory.peak / 2**20, 1))


def _commit() -> str | None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=config.PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=config.PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+changes" if dirty else "")


def _total_memory() -> int:
    import psutil

    return psutil.virtual_memory().total


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def _task_seconds(airflow_db: Path) -> dict[str, float]:
    """Duration of each task of the (only) DAG run, from the Airflow metadata DB."""
    import sqlite3

    with sqlite3.connect(airflow_db) as con:
        rows = con.execute(
            """select task_id, (julianday(end_date) - julianday(start_date)) * 86400
            from task_instance where dag_id = 'scoring_daily' order by start_date"""
        ).fetchall()
    return {task: round(seconds, 2) for task, seconds in rows}


def _folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` on disk: symbolic links are not followed, a file
    with several hard links (publish links unchanged dates) counts once."""
    seen, total = set(), 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            info = (Path(root) / name).lstat()
            if stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_size
    return total


def _mb(size: int) -> float:
    return round(size / 2**20, 1)


def engagement_dbt_seconds(target: Path, node: str = ENGAGEMENT_NODE) -> dict[str, Any]:
    """The dbt path's share of the engagement work in the build whose artifacts are in
    ``target`` (run_results.json, manifest.json): the execution time of ``node`` and of every
    model upstream of it, summed (models that ran side by side each count whole, so this is
    at most what they cost), and apart from them their data and unit tests and the seeds."""
    manifest = json.loads((target / "manifest.json").read_text())
    runs = json.loads((target / "run_results.json").read_text())["results"]
    parents = manifest["parent_map"]
    upstream, todo = set(), [node]
    while todo:
        for parent in parents.get(todo.pop(), []):
            if parent not in upstream:
                upstream.add(parent)
                todo.append(parent)
    models = {node} | {n for n in upstream if n.startswith("model.")}
    per_model, tests, seeds = {}, 0.0, 0.0
    for result in runs:
        unique_id, seconds = result["unique_id"], result["execution_time"]
        if unique_id in models:
            per_model[unique_id.split(".")[-1]] = round(seconds, 2)
        elif unique_id.startswith(("test.", "unit_test.")):
            if set(parents.get(unique_id, [])) & models and set(parents[unique_id]) <= (
                models | upstream
            ):
                tests += seconds
        elif unique_id.startswith("seed.") and unique_id in upstream:
            seeds += seconds
    return {
        "models_seconds": round(sum(per_model.values()), 2),
        "tests_seconds": round(tests, 2),
        "seeds_seconds": round(seeds, 2),
        "all_nodes_seconds": round(sum(r["execution_time"] for r in runs), 2),
        "per_model": dict(sorted(per_model.items(), key=lambda kv: -kv[1])),
    }


def bi_query_latency(serving_file: Path, repeats: int = BI_REPEATS) -> dict[str, Any]:
    """Latency of OPEN_LEADS_OF_OWNER on the serving copy, for the owner with most open leads:
    the first run after connecting, and the median of ``repeats`` runs after it."""
    import duckdb

    with duckdb.connect(str(serving_file), read_only=True) as con:
        owners = con.execute(BUSIEST_OWNER).fetchall()
    if not owners:
        return {"owner": None, "note": "no handover signal in the serving copy: no owner"}
    owner, leads = owners[0]
    times = []
    with duckdb.connect(str(serving_file), read_only=True) as con:
        for _ in range(repeats + 1):
            began = time.perf_counter()
            rows = con.execute(OPEN_LEADS_OF_OWNER, {"owner": owner}).fetchall()
            times.append((time.perf_counter() - began) * 1000)
    return {
        "owner": owner,
        "owner_open_leads": leads,
        "rows": len(rows),
        "first_ms": round(times[0], 1),
        "median_ms": round(statistics.median(times[1:]), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="leadscore-bench", description=__doc__)
    parser.add_argument("--scale", type=float, help="run the bench at this scale (default 1)")
    parser.add_argument("--scales", type=float, nargs="+", help="run the bench at each scale")
    parser.add_argument("--end-date", type=date.fromisoformat, default=date(2026, 11, 20))
    parser.add_argument("--days", type=int, default=548)
    parser.add_argument(
        "--event-rate",
        type=float,
        default=1.0,
        help="email and web events per contact, × the demo's (2.7 at scale 100: 100M events)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--backtest-months", type=int, default=3, help="monthly cut-offs to score")
    parser.add_argument(
        "--table",
        action="store_true",
        help=f"render bench/results/scale-*.json into {DOC.relative_to(config.PROJECT_ROOT)}",
    )
    args = parser.parse_args(argv)
    command_line_logging()
    scales = args.scales or ([args.scale] if args.scale is not None else [])
    if not scales and not args.table:
        scales = [1.0]
    for scale in scales:
        results = run_bench(
            scale, args.end_date, args.days, args.backtest_months, args.keep, args.event_rate
        )
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / results_name(scale, args.event_rate)
        path.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"wrote {path}")
    if args.table:
        write_table(DOC, load_results(RESULTS_DIR))
        print(f"wrote the growth table into {DOC}")
    return 0


def run_bench(
    scale: float,
    end_date: date,
    days: int,
    backtest_months: int,
    keep: bool,
    event_rate: float = 1.0,
) -> dict:
    from leadscore.generate import generate
    from leadscore.sources import SOURCES
    from leadscore.sources.files import extract_source

    scratch = Path(tempfile.mkdtemp(prefix="leadscore-bench-"))
    landing, warehouse = scratch / "landing", scratch / "warehouse.duckdb"
    serving, airflow_home = scratch / "serving", scratch / "airflow"
    env = dict(os.environ)
    env.update(
        LEADSCORE_LANDING_DIR=str(landing),
        LEADSCORE_WAREHOUSE=str(warehouse),
        LEADSCORE_SERVING_DIR=str(serving),
        LEADSCORE_REPORTS_DIR=str(scratch / "reports"),
        LEADSCORE_NOTIFY_LOG=str(scratch / "notify_log.sqlite"),
        LEADSCORE_CRM_SYNC_LOG=str(scratch / "crm_sync_log.sqlite"),
        LEADSCORE_GX_RESULTS_DIR=str(scratch / "gx"),
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__CORE__DAGS_FOLDER=str(config.PROJECT_ROOT / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(config.PROJECT_ROOT / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__COSMOS__ENABLE_TELEMETRY="False",
    )
    bin_dir = Path(sys.executable).parent
    project = config.dbt_project_dir()
    last_day = end_date
    history_end = last_day  # history = everything before the benchmarked daily run
    score_day = last_day - timedelta(days=1)
    bench = Bench(scale, days)
    bench.results["event_rate"] = event_rate
    bench.results["end_date"] = last_day.isoformat()
    bench.results["score_date"] = score_day.isoformat()
    print(f"bench scale={scale:g} in {scratch}", flush=True)

    with bench.stage("generate"):
        summary = generate(
            landing, scale=scale, end_date=last_day, days=days, event_rate=event_rate
        )
    rows = bench.results["rows"] = dict(summary.rows)
    bench.results["contacts"] = rows.get("crm/contacts")
    bench.results["companies"] = rows.get("crm/companies")
    bench.results["events"] = rows.get("email/events", 0) + rows.get("web/events", 0)
    with bench.stage("initial load"):
        for source in SOURCES:
            began = time.perf_counter()
            extract_source(
                source,
                summary.start_date,
                history_end - timedelta(days=1),
                warehouse=warehouse,
                landing=landing,
            )
            bench.details[f"initial load {source}"] = round(time.perf_counter() - began, 2)
    dbt = [
        str(bin_dir / "dbt"),
        "--quiet",
        "build",
        "--profiles-dir",
        str(project),
        "--project-dir",
        str(project),
        "--vars",
        f"{{score_date: '{score_day - timedelta(days=1)}'}}",
    ]
    with bench.stage("full build", children_only=True):
        _run(dbt, env, project)
    # back-test: monthly cut-offs scored into score_history (what validation and calibration use)
    os.environ.update(env)
    from leadscore.pipeline import DbtSession, monthly_cutoffs, run_interval, score_past_dates

    # one in-process dbt session (as `leadscore history` and `leadscore run` use), its artifacts
    # in the scratch folder: the daily run's run_results.json times each model
    dbt_target = scratch / "dbt-target"
    session = DbtSession(target=dbt_target, unit_tests=False)  # as the daily run
    cutoffs = monthly_cutoffs(score_day - timedelta(days=2), backtest_months)
    began = time.perf_counter()
    with PeakMemory() as memory:
        timings = score_past_dates(cutoffs, current=score_day - timedelta(days=1), dbt=session)
    bench.details["backtest seconds"] = round(time.perf_counter() - began, 2)
    bench.details["backtest timings"] = timings
    per_cutoff = [v for k, v in timings.items() if k[:1].isdigit()]
    bench.record(
        "backtest per cut-off",
        round(sum(per_cutoff) / len(per_cutoff), 2),
        "s",
        peak_rss_mb=_mb(memory.peak),
        cutoffs=len(cutoffs),
    )

    # the first daily run, through Airflow: extract, raw gate, dbt (layers), score gate, publish
    _run([str(bin_dir / "airflow"), "db", "migrate"], env, scratch)
    _run([str(bin_dir / "airflow"), "pools", "set", "duckdb_writer", "1", "writer"], env, scratch)
    dag = [str(bin_dir / "airflow"), "dags", "test", "scoring_daily", last_day.isoformat()]
    with bench.stage("daily DAG run (wall)", children_only=True):
        _run(dag, env, scratch)
    tasks = _task_seconds(airflow_home / "airflow.db")
    bench.details["dag task seconds"] = tasks
    bench.details["dag sum of task seconds"] = round(sum(tasks.values()), 2)

    # the same day's work in one process (rerun of the interval): what the DAG costs without
    # Airflow, so the difference is orchestration overhead
    with PeakMemory() as memory:
        run = run_interval(score_day, last_day, dbt=session)
    work = round(sum(run.seconds.values()), 2)
    bench.details["daily run steps (leadscore run)"] = run.seconds
    bench.record("daily run (work)", work, "s", peak_rss_mb=_mb(memory.peak))
    bench.record("raw gate", run.seconds.get("raw_gate", 0.0), "s")
    bench.record("dbt (daily)", run.seconds["dbt"], "s")
    bench.record("score gate", run.seconds.get("score_gate", 0.0), "s")
    bench.record("publish", run.seconds.get("publish", 0.0), "s")
    bench.record("report", run.seconds.get("report", 0.0), "s")
    dag_wall = bench.stages["daily DAG run (wall)"]["value"]
    bench.details["orchestration overhead seconds"] = round(dag_wall - work, 2)
    bench.details["DAG wall / work"] = round(dag_wall / work, 2)

    engagement(bench, warehouse, score_day, dbt_target)

    wal = warehouse.with_name(warehouse.name + ".wal")
    size = warehouse.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    bench.record("warehouse size", _mb(size), "MB")
    bench.record("serving copy size", _mb(_folder_bytes(serving)), "MB")
    from leadscore.publish import serving_path

    latency = bi_query_latency(serving_path(serving))
    bench.details["BI query"] = latency
    if latency.get("owner"):
        bench.record("BI query: top 100 open leads of one owner", latency["median_ms"], "ms")

    bench.results["peak_rss_mb"] = round(
        max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        / 1024,
        1,
    )
    print(f"  peak RSS of one process over the whole bench  {bench.results['peak_rss_mb']:,} MB")
    if keep:
        print(f"kept {scratch}")
    else:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    return bench.results


def engagement(bench: Bench, warehouse: Path, score_day: date, dbt_target: Path) -> None:
    """The reference query beside the dbt models it stands for, on the day's data. The query
    runs in a child process of its own (``python -m leadscore.reference``), so its peak memory
    is its own; the time is the query's, measured in that process."""
    share = engagement_dbt_seconds(dbt_target)
    bench.details["engagement dbt"] = share
    command = [
        sys.executable,
        "-m",
        "leadscore.reference",
        "--warehouse",
        str(warehouse),
        "--score-date",
        score_day.isoformat(),
        "--json",
    ]
    with PeakMemory(children_only=True) as memory:
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    found = json.loads(proc.stdout)
    seconds = round(found.pop("seconds"), 2)
    bench.record("engagement reference query", seconds, "s", peak_rss_mb=_mb(memory.peak))
    bench.record("engagement dbt models", share["models_seconds"], "s")
    bench.details["engagement dbt / reference"] = (
        round(share["models_seconds"] / seconds, 2) if seconds else None
    )
    bench.details["engagement agreement"] = found
    if found["agrees"]:
        print(f"  the reference agrees with dbt on all {found['contacts']:,} contacts", flush=True)
    else:
        print(f"  THE REFERENCE AND DBT DISAGREE: {found}"[:600], flush=True)


# -- the growth table ------------------------------------------------------------------------


def _detail(key: str, unit: str = "s"):
    def cell(results: dict) -> str:
        value = results.get("details", {}).get(key)
        return "–" if value is None else _number(value, unit)

    return cell


def _agreement(results: dict) -> str:
    found = results.get("details", {}).get("engagement agreement")
    if not found:
        return "–"
    if found["agrees"]:
        return f"all {found['contacts']:,} agree"
    return (
        f"{found['scores_differing']:,} scores, {found['points_differing']:,} points, "
        f"{found['only_reference'] + found['only_dbt']:,} contacts differ"
    )


def _bi_owner(results: dict) -> str:
    found = results.get("details", {}).get("BI query") or {}
    return f"{found['owner_open_leads']:,} leads" if found.get("owner") else "–"


#: The table's rows: (label, what to show): a stage of results["stages"] (its value), a
#: (stage, "peak_rss_mb") pair, or a function of the results that returns the cell.
TABLE_ROWS: list[tuple[str, Any]] = [
    ("generate", "generate"),
    ("initial load", "initial load"),
    ("full build (dbt build, all history)", "full build"),
    ("back-test, per monthly cut-off", "backtest per cut-off"),
    ("daily run: work (`leadscore run`)", "daily run (work)"),
    ("&nbsp;&nbsp;raw gate", "raw gate"),
    ("&nbsp;&nbsp;dbt", "dbt (daily)"),
    ("&nbsp;&nbsp;score gate", "score gate"),
    ("&nbsp;&nbsp;publish", "publish"),
    ("&nbsp;&nbsp;report", "report"),
    ("daily run: DAG wall time (`airflow dags test`)", "daily DAG run (wall)"),
    ("&nbsp;&nbsp;DAG wall / work", _detail("DAG wall / work", "x")),
    ("engagement: reference query", "engagement reference query"),
    ("engagement: dbt models up to int_contact_engagement", "engagement dbt models"),
    ("&nbsp;&nbsp;dbt / reference", _detail("engagement dbt / reference", "x")),
    ("&nbsp;&nbsp;agreement, contact by contact", _agreement),
    ("peak RSS: generate", ("generate", "peak_rss_mb")),
    ("peak RSS: initial load", ("initial load", "peak_rss_mb")),
    ("peak RSS: full build", ("full build", "peak_rss_mb")),
    ("peak RSS: daily run (`leadscore run`)", ("daily run (work)", "peak_rss_mb")),
    ("peak RSS: daily DAG run", ("daily DAG run (wall)", "peak_rss_mb")),
    ("peak RSS: engagement reference query", ("engagement reference query", "peak_rss_mb")),
    ("warehouse size", "warehouse size"),
    ("serving copy size", "serving copy size"),
    ("BI query: top 100 open leads of one owner", "BI query: top 100 open leads of one owner"),
    ("&nbsp;&nbsp;that owner's open leads", _bi_owner),
]


def _number(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}×"
    if unit == "s" and value >= 120:
        return f"{value:,.0f} s ({value / 60:.1f} min)"
    digits = 0 if value >= 100 else 1 if value >= 1 else 2
    return f"{value:,.{digits}f} {unit}"


def _cell(results: dict | None, what: Any) -> str:
    if results is None:
        return "–"
    if callable(what):
        return what(results)
    name, field_name = (what, "value") if isinstance(what, str) else what
    stage = results.get("stages", {}).get(name)
    if not stage or stage.get(field_name) is None:
        return "–"
    return _number(stage[field_name], stage["unit"] if field_name == "value" else "MB")


def _growth(what: Any) -> str:
    if isinstance(what, tuple):
        what = what[0]
    return GROWS_WITH.get(what, "") if isinstance(what, str) else ""


def load_results(folder: Path) -> dict[tuple[float, float], dict]:
    """Every ``scale-*.json`` of ``folder`` written by this bench (older formats are skipped)."""
    found = {}
    for path in sorted(folder.glob("scale-*.json")):
        results = json.loads(path.read_text())
        if "stages" in results:
            found[(float(results["scale"]), float(results.get("event_rate", 1)))] = results
        else:
            print(f"skipped {path}: written by an older bench, without stages; rerun that scale")
    return found


def render_table(found: dict[tuple[float, float], dict]) -> str:
    scales = sorted(set(TABLE_SCALES) | set(found))
    header = ["stage", "grows with"]
    for scale in scales:
        results = found.get(scale)
        if results:
            header.append(
                f"{run_name(*scale)}: {results.get('contacts') or 0:,} contacts, "
                f"{results.get('events') or 0:,} events"
            )
        else:
            header.append(f"{run_name(*scale)}: not run yet")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, what in TABLE_ROWS:
        cells = [label, _growth(what)] + [_cell(found.get(s), what) for s in scales]
        lines.append("| " + " | ".join(cells) + " |")
    notes = []
    for scale in scales:
        results = found.get(scale)
        if results:
            machine = results.get("machine", {})
            notes.append(
                f"- {run_name(*scale)}: measured {results.get('measured_at', '?')} at commit "
                f"{results.get('commit') or '?'}, {machine.get('cpus', '?')} CPUs, "
                f"{machine.get('memory_gb', '?')} GB; {results.get('days')} days of exports "
                f"ending {results.get('end_date', '?')}, score date {results.get('score_date')}"
            )
        else:
            notes.append(
                f"- {run_name(*scale)}: not run yet: `make bench {_make_args(*scale)}`, then "
                "`make bench-table`"
            )
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def write_table(doc: Path, found: dict[tuple[float, float], dict]) -> None:
    text = doc.read_text()
    if TABLE_BEGIN not in text or TABLE_END not in text:
        raise SystemExit(
            f"{doc}: the lines {TABLE_BEGIN!r} and {TABLE_END!r} mark where the growth table "
            "goes; put them back and rerun"
        )
    before, rest = text.split(TABLE_BEGIN, 1)
    after = rest.split(TABLE_END, 1)[1]
    doc.write_text(before + TABLE_BEGIN + "\n" + render_table(found) + TABLE_END + after)


if __name__ == "__main__":
    sys.exit(main())
