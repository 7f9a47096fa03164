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
from leadscore.sources import ALL_ENTITIES


@dataclass(frozen=True)
class Freshness:
    entity: str
    warn_after_days: float
    #: None: the source is never stale enough to fail the run, only to warn
    error_after_days: float | None


@dataclass(frozen=True)
class GateConfig:
    quarantine_max_share: float = 0.02
    known_company_min_share: float = 0.98
    #: known_company_min_share applies to an entity's interval from this many rows on
    known_company_min_rows: int = 50
    min_rows_per_file: dict[str, int] = field(default_factory=dict)
    max_values: dict[str, float] = field(default_factory=dict)
    #: documented minima (``min_values``): a value below one is quarantined with its row
    min_values: dict[str, float] = field(default_factory=dict)
    freshness: dict[str, Freshness] = field(default_factory=dict)
    freshness_on_error: str = "fail"
    max_row_count_change: float = 0.10
    max_stage_share_change: float = 0.05
    max_mean_score_change: float = 5.0
    #: score table -> rows it must hold for the run's date (``score.min_rows``)
    score_min_rows: dict[str, int] = field(default_factory=dict)

    def max_value(self, qualified: str, column: str) -> float | None:
        """The configured maximum of a numeric column, None when it has none."""
        return self.max_values.get(f"{qualified}.{column}")

    def min_value(self, qualified: str, column: str) -> float | None:
        """The documented minimum of a numeric column, None when it has none."""
        return self.min_values.get(f"{qualified}.{column}")


def config_path() -> Path:
    value = os.environ.get("LEADSCORE_GATES_CONFIG")
    return Path(value) if value else config.expectations_dir() / "gates.yml"


def load(path: Path | None = None) -> GateConfig:
    """Read and check the gate configuration; a mistake names the file and the key."""
    path = path or config_path()
    raw: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    gate = raw.get("raw", {}) or {}
    score = raw.get("score", {}) or {}
    drift = score.get("drift", {}) or {}
    known = {e.qualified for e in ALL_ENTITIES}

    def share(section: dict, key: str, default: float) -> float:
        value = float(section.get(key, default))
        if not 0 <= value <= 1:
            raise ValueError(f"{path}: {key} must be a share between 0 and 1, not {value}")
        return value

    min_rows = {str(k): int(v) for k, v in (gate.get("min_rows_per_file") or {}).items()}
    max_values = {str(k): float(v) for k, v in (gate.get("max_values") or {}).items()}
    min_values = {str(k): float(v) for k, v in (gate.get("min_values") or {}).items()}
    for key, low in min_values.items():
        if low > max_values.get(key, low):
            raise ValueError(f"{path}: min_values.{key} {low} is above max_values.{key}")
    for key in [*min_rows, *(k.rsplit(".", 1)[0] for k in [*max_values, *min_values])]:
        if key not in known:
            raise ValueError(f"{path}: unknown entity {key!r}; known: {', '.join(sorted(known))}")
    freshness = {}
    for source, spec in (gate.get("freshness") or {}).items():
        if spec["entity"] not in known:
            raise ValueError(f"{path}: freshness.{source}.entity {spec['entity']!r} is unknown")
        error_after = spec.get("error_after_days")
        freshness[source] = Freshness(
            spec["entity"],
            float(spec["warn_after_days"]),
            None if error_after is None else float(error_after),
        )
    on_error = gate.get("freshness_on_error", "fail")
    if on_error not in ("fail", "warn"):
        raise ValueError(f"{path}: freshness_on_error must be fail or warn, not {on_error!r}")
    from leadscore.quality_suites import MART_KEYS  # it imports this module

    score_min_rows = {str(k): int(v) for k, v in (score.get("min_rows") or {}).items()}
    for mart in score_min_rows:
        if mart not in MART_KEYS:
            raise ValueError(
                f"{path}: score.min_rows: unknown score table {mart!r}; known: "
                f"{', '.join(MART_KEYS)}"
            )
    return GateConfig(
        quarantine_max_share=share(gate, "quarantine_max_share", 0.02),
        known_company_min_share=share(gate, "known_company_min_share", 0.98),
        known_company_min_rows=int(gate.get("known_company_min_rows", 50)),
        min_rows_per_file=min_rows,
        max_values=max_values,
        min_values=min_values,
        freshness=freshness,
        freshness_on_error=on_error,
        max_row_count_change=float(drift.get("max_row_count_change", 0.10)),
        max_stage_share_change=share(drift, "max_stage_share_change", 0.05),
        max_mean_score_change=float(drift.get("max_mean_score_change", 5)),
        score_min_rows=score_min_rows,
    )


# --- property catalogue -------------------------------------------------------------------------

#: The catalogue's entity names (dbt_project/seeds/property_catalogue.csv) and the source entity
#: each one names. Entities not listed here cannot declare properties.
CATALOGUE_ENTITIES: dict[str, str] = {
    "contact": "crm/contacts",
    "company": "crm/companies",
    "deal": "crm/deals",
    "activity": "crm/activities",
    "web_event": "web/events",
    "email_event": "email/events",
}
PROPERTY_TYPES = ("text", "number", "boolean", "date", "enum")
PROPERTY_KINDS = ("standard", "custom")
#: How messages name the catalogue (it lives in the dbt project, where analytics engineers edit it).
CATALOGUE_NAME = "seeds/property_catalogue.csv"


@dataclass(frozen=True)
class CatalogueProperty:
    """One declared property: ``entity`` is the source entity it belongs to (``crm/contacts``)."""

    entity: str
    name: str
    type: str
    kind: str
    #: enum only: the allowed values as written (compared trimmed and case-insensitively)
    allowed_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class PropertyCatalogue:
    properties: tuple[CatalogueProperty, ...] = ()

    def declared(self, qualified: str) -> set[str]:
        """Every property name the catalogue declares for a source entity (any kind)."""
        return {p.name for p in self.properties if p.entity == qualified}

    def custom(self, qualified: str) -> list[CatalogueProperty]:
        """The custom properties (extra columns or keys, kept in ``_properties``) of an entity."""
        return [p for p in self.properties if p.entity == qualified and p.kind == "custom"]


def catalogue_path(dbt_project: Path | None = None) -> Path:
    return (dbt_project or config.dbt_project_dir()) / "seeds" / "property_catalogue.csv"


def load_catalogue(path: Path | None = None) -> PropertyCatalogue:
    """Read the property catalogue as it is now; a mistake names the file, the line and the value.

    The raw gate reads it on every run (before dbt, so before dbt's seed tests could catch a
    mistake): a property an analytics engineer declares is checked from the next run on.
    """
    import csv

    path = path or catalogue_path()
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"entity", "property", "type", "kind", "allowed_values"} - set(
            reader.fieldnames or ()
        )
        if missing:
            raise ValueError(f"{path}: column(s) {', '.join(sorted(missing))} missing")
        properties, seen = [], set()
        for line, row in enumerate(reader, start=2):
            where = f"{path} line {line}"
            name, kind = (row["property"] or "").strip(), (row["kind"] or "").strip()
            kind_of, type_ = (row["entity"] or "").strip(), (row["type"] or "").strip()
            if kind_of not in CATALOGUE_ENTITIES:
                raise ValueError(
                    f"{where}: entity {kind_of!r} is not one of {', '.join(CATALOGUE_ENTITIES)}"
                )
            if not name:
                raise ValueError(f"{where}: property is empty")
            if type_ not in PROPERTY_TYPES:
                raise ValueError(
                    f"{where}: type {type_!r} is not one of {', '.join(PROPERTY_TYPES)}"
                )
            if kind not in PROPERTY_KINDS:
                raise ValueError(
                    f"{where}: kind {kind!r} is not one of {', '.join(PROPERTY_KINDS)}"
                )
            allowed = tuple(
                v.strip() for v in (row["allowed_values"] or "").split("|") if v.strip()
            )
            if type_ == "enum" and not allowed:
                raise ValueError(f"{where}: enum {name} lists no allowed_values (a|b|c)")
            if (kind_of, name) in seen:
                raise ValueError(f"{where}: {kind_of} property {name} is declared twice")
            seen.add((kind_of, name))
            properties.append(
                CatalogueProperty(CATALOGUE_ENTITIES[kind_of], name, type_, kind, allowed)
            )
    return PropertyCatalogue(tuple(properties))
