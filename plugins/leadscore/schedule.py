"""Which days the scheduler runs the daily DAG for: first and last day, and catchup, from the env.

The run for day D covers the data interval ``[D, D + 1)`` (its logical date is D, its score date
D) and starts when the interval ends, just after midnight UTC. ``LEADSCORE_SCHEDULE_START``
(default 2025-01-01) and ``LEADSCORE_SCHEDULE_END`` (default none) are the first and last such D,
ISO dates in UTC. ``LEADSCORE_CATCHUP`` (default false) makes the scheduler run every day from the
start on that has no run yet, oldest first; without it the scheduler starts with yesterday.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

DEFAULT_START = "2025-01-01"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def _date(name: str, default: str | None) -> datetime | None:
    value = os.environ.get(name, "").strip() or default
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{name}={value!r} is not an ISO date: write it as YYYY-MM-DD (UTC)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value not in _TRUE + _FALSE:
        raise ValueError(f"{name}={value!r} must be true or false")
    return value in _TRUE


def dag_schedule_args() -> dict:
    """``start_date``, ``end_date`` and ``catchup`` for ``@dag``, from the environment."""
    start = _date("LEADSCORE_SCHEDULE_START", DEFAULT_START)
    end = _date("LEADSCORE_SCHEDULE_END", None)
    if end is not None and end < start:
        raise ValueError(
            f"LEADSCORE_SCHEDULE_END ({end.date()}) is before LEADSCORE_SCHEDULE_START "
            f"({start.date()}): the DAG would never run"
        )
    return {"start_date": start, "end_date": end, "catchup": _flag("LEADSCORE_CATCHUP")}
