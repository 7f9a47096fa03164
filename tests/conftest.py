"""Shared fixtures. Slow tests (dbt, Airflow) share one generated demo dataset per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# Tests never touch a user's ~/airflow, and never phone home.
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / "airflow_home"))
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# Tests never read or replace a user's published serving copy (the score gate compares with it).
os.environ["LEADSCORE_SERVING_DIR"] = tempfile.mkdtemp(prefix="leadscore-test-serving-")
# Cosmos caches `dbt ls` in Airflow Variables, which needs a metadata DB; tests parse without one.
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_CACHE_DBT_LS", "False")

#: Small but realistic: enough won and lost deals for a stable AUC, fast enough for CI.
TEST_SCALE = float(os.environ.get("LEADSCORE_TEST_SCALE", "0.3"))
TEST_END = date(2026, 11, 20)
TEST_DAYS = int(os.environ.get("LEADSCORE_TEST_DAYS", "365"))
#: Days loaded in bulk before the DAG runs in the end-to-end test (the DAG then scores 11-18..20).
FIRST_DAG_DAY = date(2026, 11, 18)


def quiet_env(**extra: str) -> dict[str, str]:
    """Environment for child processes: telemetry off, project paths set."""
    env = dict(os.environ)
    env.update(
        {
            "LEADSCORE_HOME": str(ROOT),
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "SCARF_ANALYTICS": "false",
            "DO_NOT_TRACK": "1",
            "GX_ANALYTICS_ENABLED": "False",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
            "PYTHONWARNINGS": "ignore",
        }
    )
    env.update(extra)
    return env


def run(cmd: list[str], *, env: dict[str, str], cwd: Path = ROOT, timeout: int = 900):
    """Run a command; on failure show its output tail in the assertion message."""
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + "\n" + proc.stderr).splitlines()[-60:])
        raise AssertionError(f"{' '.join(cmd)} failed with {proc.returncode}:\n{tail}")
    return proc


@pytest.fixture(scope="session")
def demo_landing(tmp_path_factory) -> Path:
    """A generated landing tree shared by the slow tests (never modified by them)."""
    from leadscore.generate import generate

    out = tmp_path_factory.mktemp("landing")
    generate(out, seed=7, scale=TEST_SCALE, end_date=TEST_END, days=TEST_DAYS)
    return out


def write_delivery(landing: Path, entity, day: date, records: list[dict]) -> Path:
    """Write one day's export file of ``entity`` the way docs/sources.md describes it."""
    import csv
    import json

    folder = landing / entity.source / entity.name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{day.isoformat()}.{entity.extension}"
    if entity.file_format == "csv":
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=entity.columns)
            writer.writeheader()
            writer.writerows(records)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def dbt(args: list[str], *, warehouse: Path, project: Path = ROOT / "dbt_project", **env: str):
    return run(
        [str(BIN / "dbt"), *args, "--profiles-dir", str(project), "--project-dir", str(project)],
        env=quiet_env(LEADSCORE_WAREHOUSE=str(warehouse), **env),
        cwd=project,
    )


def copy_project(dest: Path) -> Path:
    """A copy of the dbt project (without build artifacts) that a test may edit."""
    shutil.copytree(
        ROOT / "dbt_project", dest, ignore=shutil.ignore_patterns("target", "logs", ".user.yml")
    )
    return dest
