"""The bounds the quality gates enforce, read from ``expectations/gates.yml``.

The suites in ``expectations/gx`` say *what* is checked; this file says *how much* is tolerated
(quarantine share, outlier maxima, freshness, drift). Values reach the suites as parameters.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from leadscore import config
from leadscore.sources import ENTITIES


@dataclass(frozen=True)
class Freshness:
    entity: str
    warn_after_days: float
    error_after_days: float


@dataclass(frozen=True)
class GateConfig:
    quarantine_max_share: float = 0.02
    known_company_min_share: float = 0.98
    min_rows_per_file: dict[str, int] = field(default_factory=dict)
    max_values: dict[str, float] = field(default_factory=dict)
    freshness: dict[str, Freshness] = field(default_factory=dict)
    freshness_on_error: str = "fail"
    max_row_count_change: float = 0.10
    max_stage_share_change: float = 0.05
    max_mean_score_change: float = 5.0

    def max_value(self, qualified: str, column: str) -> float | None:
        """The configured maximum of a numeric column, None when it has none."""
        return self.max_values.get(f"{qualified}.{column}")


def config_path() -> Path:
    value = os.environ.get("LEADSCORE_GATES_CONFIG")
    return Path(value) if value else config.expectations_dir() / "gates.yml"


def load(path: Path | None = None) -> GateConfig:
    """Read and check the gate configuration; a mistake names the file and the key."""
    path = path or config_path()
    raw: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    gate = raw.get("raw", {}) or {}
    drift = (raw.get("score", {}) or {}).get("drift", {}) or {}
    known = {e.qualified for e in ENTITIES}

    def share(section: dict, key: str, default: float) -> float:
        value = float(section.get(key, default))
        if not 0 <= value <= 1:
            raise ValueError(f"{path}: {key} must be a share between 0 and 1, not {value}")
        return value

    min_rows = {str(k): int(v) for k, v in (gate.get("min_rows_per_file") or {}).items()}
    max_values = {str(k): float(v) for k, v in (gate.get("max_values") or {}).items()}
    for key in [*min_rows, *(k.rsplit(".", 1)[0] for k in max_values)]:
        if key not in known:
            raise ValueError(f"{path}: unknown entity {key!r}; known: {', '.join(sorted(known))}")
    freshness = {}
    for source, spec in (gate.get("freshness") or {}).items():
        if spec["entity"] not in known:
            raise ValueError(f"{path}: freshness.{source}.entity {spec['entity']!r} is unknown")
        freshness[source] = Freshness(
            spec["entity"], float(spec["warn_after_days"]), float(spec["error_after_days"])
        )
    on_error = gate.get("freshness_on_error", "fail")
    if on_error not in ("fail", "warn"):
        raise ValueError(f"{path}: freshness_on_error must be fail or warn, not {on_error!r}")
    return GateConfig(
        quarantine_max_share=share(gate, "quarantine_max_share", 0.02),
        known_company_min_share=share(gate, "known_company_min_share", 0.98),
        min_rows_per_file=min_rows,
        max_values=max_values,
        freshness=freshness,
        freshness_on_error=on_error,
        max_row_count_change=float(drift.get("max_row_count_change", 0.10)),
        max_stage_share_change=share(drift, "max_stage_share_change", 0.05),
        max_mean_score_change=float(drift.get("max_mean_score_change", 5)),
    )
