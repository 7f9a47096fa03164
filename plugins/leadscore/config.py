"""Where things live. Every path can be overridden by an environment variable."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(os.environ.get("LEADSCORE_HOME", Path(__file__).resolve().parents[2]))


def _path(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).resolve() if value else default


def data_dir() -> Path:
    return _path("LEADSCORE_DATA_DIR", PROJECT_ROOT / "data")


def landing_dir() -> Path:
    """Root of the source exports: ``<landing>/<source>/<entity>/<YYYY-MM-DD>.<ext>``."""
    return _path("LEADSCORE_LANDING_DIR", data_dir() / "landing")


def warehouse_path() -> Path:
    """The working DuckDB file that extract and dbt write (one writer at a time)."""
    return _path("LEADSCORE_WAREHOUSE", data_dir() / "warehouse.duckdb")


def dbt_project_dir() -> Path:
    return _path("LEADSCORE_DBT_PROJECT_DIR", PROJECT_ROOT / "dbt_project")


def expectations_dir() -> Path:
    """Great Expectations file context root (holds ``gx/``)."""
    return _path("LEADSCORE_EXPECTATIONS_DIR", PROJECT_ROOT / "expectations")


def notify_log_path() -> Path:
    """SQLite file recording which signals each channel was sent (so reruns do not resend)."""
    return _path("LEADSCORE_NOTIFY_LOG", data_dir() / "notify_log.sqlite")


def serving_dir() -> Path:
    """Where the published copy lives: ``scores.duckdb`` and ``current/<table>.parquet``."""
    return _path("LEADSCORE_SERVING_DIR", data_dir() / "serving")


def dbt_vars(project: Path | None = None) -> dict:
    """The vars of ``dbt_project.yml``: windows and thresholds Python steps must agree with."""
    import yaml

    path = (project or dbt_project_dir()) / "dbt_project.yml"
    return (yaml.safe_load(path.read_text()) or {}).get("vars") or {}


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for a block (paths the steps read), then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
