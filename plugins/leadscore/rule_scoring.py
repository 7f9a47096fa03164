"""Score a rule set with the production SQL, away from the real warehouse.

Calibration must know what a proposed points table would do once adopted, and it must learn from
rules nobody has adopted yet. Both need the rules evaluated the way production evaluates them:
by the dbt project. A :class:`RuleSandbox` is a copy of the warehouse file and of the dbt project
in a scratch folder; it writes rule rows into the copy's seeds, loads them with ``dbt seed`` and
builds the scoring models for any past score date (staging is point in time, so a past date sees
what was known then). The real warehouse, seeds and published tables are never touched.
"""

from __future__ import annotations

import csv
import io
import logging
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from leadscore import config
from leadscore.pipeline import DbtSession

log = logging.getLogger(__name__)

#: What a ledger and a lead score need: the models behind them, not the kept or published ones.
LEDGER_SELECTOR = "+int_fit_rule_hits +int_engagement_rule_hits"
LEAD_SCORES_SELECTOR = "+lead_scores"


class RuleSandbox:
    """A scratch copy of the warehouse and the dbt project for scoring rule sets."""

    def __init__(
        self,
        warehouse: Path | None = None,
        project: Path | None = None,
        *,
        root: Path | None = None,
    ) -> None:
        self.source_warehouse = warehouse or config.warehouse_path()
        self.source_project = project or config.dbt_project_dir()
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="leadscore-rules-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.warehouse = self.root / "warehouse.duckdb"
        self.project = self.root / "dbt_project"
        self.seconds: dict[str, float] = {}
        began = time.perf_counter()
        shutil.copy2(self.source_warehouse, self.warehouse)
        wal = self.source_warehouse.with_name(self.source_warehouse.name + ".wal")
        if wal.exists():
            shutil.copy2(wal, self.warehouse.with_name(self.warehouse.name + ".wal"))
        shutil.copytree(
            self.source_project,
            self.project,
            ignore=shutil.ignore_patterns("target", "logs", ".user.yml", "dbt_packages"),
        )
        self.seconds["copy"] = round(time.perf_counter() - began, 2)
        self._dbt = DbtSession(project=self.project, target=self.root / "target")

    def close(self) -> None:
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RuleSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, score_date: date, command: str, *extra: str) -> None:
        began = time.perf_counter()
        # dbt reads the warehouse path and its log folder from the environment
        with config.environment(
            {"LEADSCORE_WAREHOUSE": str(self.warehouse), "DBT_LOG_PATH": str(self.root / "logs")}
        ):
            self._dbt(score_date, command, *extra)
        key = f"dbt {command}"
        self.seconds[key] = round(self.seconds.get(key, 0.0) + time.perf_counter() - began, 2)

    # --- rules ---------------------------------------------------------------------------------

    def seed_rows(self, name: str) -> list[dict[str, str]]:
        """The rows of one of the sandbox's seeds, as text."""
        return read_seed(self.project, name)

    def write_seed(self, name: str, rows: list[dict[str, Any]]) -> None:
        """Replace a seed of the sandbox's project (columns in the seed's own order)."""
        path = self.project / "seeds" / f"{name}.csv"
        columns, _ = parse_seed(path.read_text())
        path.write_text(format_seed(columns, rows))

    def load_seeds(self, score_date: date, *names: str) -> None:
        """``dbt seed`` the named seeds (all when none is named)."""
        self._run(score_date, "seed", *(("--select", *names) if names else ()))

    # --- scoring -------------------------------------------------------------------------------

    def ledger(self, score_date: date, contact_ids: list[str] | None = None) -> pd.DataFrame:
        """Fit and engagement rules every contact had on ``score_date``: the rows of the ledger
        (int_score_ledger) without the financial rules, read from the two rule-hit models."""
        self._run(score_date, "run", "--select", *LEDGER_SELECTOR.split())
        return self._read(
            """select entity_id as contact_id, 'fit' as subscore, attribute as rule,
                attribute_value as rule_value, cast(points as double) as points
            from intermediate.int_fit_rule_hits
            where entity_type = 'contact'
            union all
            select contact_id, 'engagement' as subscore, rule,
                cast(event_count as varchar) as rule_value, cast(points as double) as points
            from intermediate.int_engagement_rule_hits""",
            contact_ids,
        )

    def lead_scores(self, score_date: date, contact_ids: list[str] | None = None) -> pd.DataFrame:
        """lead_scores of ``score_date`` under the sandbox's rules."""
        self._run(score_date, "run", "--select", LEAD_SCORES_SELECTOR)
        return self._read(
            """select contact_id, cast(lead_score as double) as score,
                cast(fit_score as double) as fit_score,
                cast(engagement_score as double) as engagement_score
            from marts.lead_scores""",
            contact_ids,
        )

    def _read(self, sql: str, contact_ids: list[str] | None) -> pd.DataFrame:
        import duckdb

        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            frame = con.execute(sql).df()
        if contact_ids is not None:
            frame = frame[frame["contact_id"].isin(set(contact_ids))]
        return frame.reset_index(drop=True)


def read_seed(project: Path, name: str) -> list[dict[str, str]]:
    """The rows of ``seeds/<name>.csv`` of a dbt project, as text (none when it is not there)."""
    path = project / "seeds" / f"{name}.csv"
    return parse_seed(path.read_text())[1] if path.exists() else []


def parse_seed(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """A seed's columns and rows."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return list(reader.fieldnames or []), list(reader)


def format_seed(columns: list[str], rows: list[dict[str, Any]]) -> str:
    """Seed text: empty cells for missing values, whole numbers without a decimal point."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _cell(row.get(c)) for c in columns})
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
