"""The daily run without Airflow: extract, raw gate, dbt build, score gate, publish.

The DAG runs the same steps as separate tasks; this module runs them in order in one process for
``leadscore run`` / ``leadscore backfill``, tests and the benchmark, and times each step.
A step that fails stops the run: later steps do not run, so nothing is published.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from leadscore import config

log = logging.getLogger(__name__)


class StepFailed(RuntimeError):
    """A step of the run failed; the message names the step and what went wrong."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step} failed: {message}")
        self.step = step


@dataclass
class RunResult:
    start: date
    end: date
    score_date: date
    seconds: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def dbt_executable() -> str:
    return str(Path(sys.executable).with_name("dbt"))


def dbt_build(
    score_date: date,
    *,
    warehouse: Path | None = None,
    project: Path | None = None,
    command: str = "build",
    extra_vars: dict[str, Any] | None = None,
) -> str:
    """``dbt build`` (models and their tests) for ``score_date`` in a child process."""
    import json
    import os

    project = project or config.dbt_project_dir()
    variables = {"score_date": score_date.isoformat(), **(extra_vars or {})}
    env = dict(os.environ)
    env["LEADSCORE_WAREHOUSE"] = str(warehouse or config.warehouse_path())
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    proc = subprocess.run(
        [
            dbt_executable(),
            command,
            "--profiles-dir",
            str(project),
            "--project-dir",
            str(project),
            "--vars",
            json.dumps(variables),
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-40:] + proc.stderr.splitlines()[-10:])
        raise StepFailed(f"dbt {command}", f"exit code {proc.returncode}:\n{tail}")
    return proc.stdout


def run_interval(
    start: date,
    end: date,
    *,
    gates: bool = True,
    publish: bool = True,
    accept_drift: bool = False,
    dbt: Callable[[date], Any] | None = None,
) -> RunResult:
    """Score the interval ``[start, end)``: the score date is its last day."""
    from leadscore.extract import ExtractError, extract_source
    from leadscore.publish import publish as publish_scores
    from leadscore.quality import GateFailed, raw_gate, score_gate
    from leadscore.sources import SOURCES

    score_date = end - timedelta(days=1)
    days = [start + timedelta(days=i) for i in range((end - start).days)]
    result = RunResult(start, end, score_date)

    def step(name: str, fn: Callable[[], Any]) -> Any:
        began = time.perf_counter()
        try:
            value = fn()
        except (ExtractError, GateFailed) as err:
            raise StepFailed(name, str(err)) from err
        result.seconds[name] = round(time.perf_counter() - began, 2)
        return value

    for source in SOURCES:
        step(f"extract_{source}", lambda s=source: extract_source(s, start, end))
    if gates:
        result.details["raw_gate"] = step("raw_gate", lambda: raw_gate(days))
    step("dbt", lambda: (dbt or dbt_build)(score_date))
    if gates:
        result.details["score_gate"] = step(
            "score_gate", lambda: score_gate(score_date, accept_drift=accept_drift)
        )
    if publish:
        result.details["publish"] = step("publish", lambda: publish_scores(score_date))
    log.info("run %s..%s: %s", start, score_date, result.seconds)
    return result
