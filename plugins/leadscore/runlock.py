"""One run at a time per warehouse: an explicit lock for the whole run.

DuckDB lets one process write a file. Two runs on one warehouse used to collide in the middle:
the second died with DuckDB's raw ``Could not set lock on file``, or re-extracted the day under
the first and failed in dbt. Now a run takes ``<warehouse>.lock`` before it touches anything, and
a second run stops at once with "another run holds the warehouse <path> since <time>, pid <pid>
(<holder>)".

The lock file holds an OS lock (``flock`` through the ``filelock`` library) and, while held, one
JSON line naming the holder: what runs (``holder``), ``pid``, ``host``, ``since`` (UTC) and, for
an Airflow run, ``dag_run``.

- **A command-line run** (``leadscore run``, ``backfill``, ``history``, ``extract``, ``gate``,
  ``publish``, ``calibrate``, and ``run_interval`` in Python) keeps the OS lock for its whole
  run and clears the file when it ends. The OS releases the lock when the process dies, however
  it dies: a lock whose process is gone is stale and never blocks (the next run takes it over).
- **An Airflow DAG run** spans many processes (one per task), so no process can keep the OS
  lock. Its first task (``lock_warehouse``, an Airflow *setup* task) writes the DAG run as the
  holder, and its teardown task (``release_warehouse``) clears it. Airflow runs a teardown when
  the work tasks fail and when the run is marked failed or successful by hand, and clearing a
  task clears its setup and teardown too, so a rerun task takes the lock again. In between, a
  command-line run sees the DAG run as the holder. The tasks take the OS lock only for the moment
  they read and write the file, so a check never races another. DAG runs never overlap
  (``max_active_runs=1``): when a new run of the same DAG finds an older run as holder, that run
  has ended without its teardown, and the new run takes over (with a warning). ``leadscore
  unlock`` clears such a leftover by hand; it refuses while a live process holds the lock.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from leadscore import config

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"
#: How long a run that lost the race waits for the winner to write its name into the lock file.
HOLDER_WAIT_SECONDS = 2.0
#: How long an Airflow task waits for the OS lock a command-line run holds for a moment (its
#: check of the holder); a command-line run that holds it for a whole run fails the task at once.
TASK_WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05


class WarehouseLocked(RuntimeError):
    """Another run holds the warehouse; the message names it (pid, since, what it is)."""


@dataclass(frozen=True)
class Holder:
    holder: str
    pid: int
    host: str
    since: str  # ISO 8601, UTC
    user: str = ""
    dag_run: str | None = None  # "<dag_id>/<run_id>" when an Airflow DAG run holds the lock

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Holder | None:
        try:
            data = json.loads(text)
            return cls(**data)
        except (ValueError, TypeError):
            return None

    def describe(self, warehouse: Path) -> str:
        since = datetime.fromisoformat(self.since)
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return (
            f"another run holds the warehouse {warehouse} since {since:%Y-%m-%d %H:%M:%S} UTC, "
            f"pid {self.pid}{where} ({self.holder})"
        )


def lock_path(warehouse: Path | None = None) -> Path:
    warehouse = warehouse or config.warehouse_path()
    return warehouse.with_name(warehouse.name + LOCK_SUFFIX)


def _new_holder(holder: str, dag_run: str | None = None) -> Holder:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    return Holder(
        holder=holder,
        pid=os.getpid(),
        host=socket.gethostname(),
        since=datetime.now(UTC).isoformat(timespec="seconds"),
        user=user,
        dag_run=dag_run,
    )


def _os_lock(path: Path) -> FileLock:
    path.parent.mkdir(parents=True, exist_ok=True)
    # the file is kept (its content names the holder); no soft-lock fallback without flock
    return FileLock(path, preserve_lock_file=True, fallback_to_soft=False)


def _read(path: Path) -> Holder | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return Holder.from_json(text) if text.strip() else None


def _write(path: Path, holder: Holder | None) -> None:
    """Replace the content in place (same inode: the OS lock is on it)."""
    with path.open("r+") as fh:
        fh.truncate(0)
        if holder:
            fh.write(holder.to_json())
        fh.flush()
        os.fsync(fh.fileno())


def _busy(warehouse: Path, path: Path) -> WarehouseLocked:
    """The error for a lock a live process holds (it may still be writing its name)."""
    deadline = time.monotonic() + HOLDER_WAIT_SECONDS
    holder = _read(path)
    while holder is None and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        holder = _read(path)
    if holder is None:
        return WarehouseLocked(
            f"another run holds the warehouse {warehouse} (lock file {path}; it has not "
            "recorded its pid yet): wait for it to finish, then rerun"
        )
    if holder.dag_run:
        return _held_by_dag_run(warehouse, holder)
    return WarehouseLocked(f"{holder.describe(warehouse)}: wait for it to finish, then rerun")


def _held_by_dag_run(warehouse: Path, holder: Holder) -> WarehouseLocked:
    return WarehouseLocked(
        f"{holder.describe(warehouse)}: it is released when that DAG run ends (its "
        "release_warehouse task). If that run no longer exists, `leadscore unlock` releases it"
    )


#: Locks this process holds: lock path -> (OS lock, depth), so nested holds re-enter.
def _took_over_stale(warehouse: Path, previous: Holder) -> None:
    """Log a lock taken over from a process that died holding it (the OS freed its lock)."""
    log.warning(
        "took over a stale lock on %s: pid %s (%s, since %s) ended without releasing it",
        warehouse,
        previous.pid,
        previous.holder,
        previous.since,
    )


@contextmanager
def _os_locked(warehouse: Path, path: Path, timeout: float) -> Iterator[FileLock]:
    """The OS lock on ``path`` while the block runs; ``WarehouseLocked`` naming the holder when a
    live process keeps it longer than ``timeout`` seconds (0: do not wait)."""
    lock = _os_lock(path)
    try:
        lock.acquire(timeout=timeout, blocking=timeout > 0)
    except Timeout:
        raise _busy(warehouse, path) from None
    try:
        yield lock
    finally:
        lock.release()


_HELD: dict[Path, tuple[FileLock, int]] = {}


@contextmanager
def hold(holder: str, *, warehouse: Path | None = None) -> Iterator[None]:
    """Hold the warehouse for this process while the block runs (re-entrant within a process).

    Raises ``WarehouseLocked`` at once when another run holds it: a live process, or an Airflow
    DAG run that has not ended.
    """
    warehouse = warehouse or config.warehouse_path()
    path = lock_path(warehouse)
    key = path.resolve()
    if key in _HELD:
        lock, depth = _HELD[key]
        _HELD[key] = (lock, depth + 1)
        try:
            yield
        finally:
            _HELD[key] = (lock, _HELD[key][1] - 1)
        return
    lock = _os_lock(path)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        raise _busy(warehouse, path) from None
    try:
        previous = _read(path)
        if previous and previous.dag_run:
            raise _held_by_dag_run(warehouse, previous)
        if previous:
            _took_over_stale(warehouse, previous)
        _write(path, _new_holder(holder))
    except BaseException:
        lock.release()
        raise
    _HELD[key] = (lock, 1)
    try:
        yield
    finally:
        del _HELD[key]
        try:
            _write(path, None)
        finally:
            lock.release()


def acquire_for_dag_run(dag_id: str, run_id: str, *, warehouse: Path | None = None) -> Holder:
    """Take the warehouse for an Airflow DAG run until ``release_for_dag_run`` (setup task).

    The same DAG run takes it again freely (a cleared and rerun task). A command-line run in
    progress raises ``WarehouseLocked`` (the task is retried later).
    """
    warehouse = warehouse or config.warehouse_path()
    path = lock_path(warehouse)
    me = f"{dag_id}/{run_id}"
    with _os_locked(warehouse, path, TASK_WAIT_SECONDS):
        previous = _read(path)
        if previous and previous.dag_run == me:
            log.warning("the warehouse %s is already held by this DAG run (%s)", warehouse, me)
            return previous
        if previous and previous.dag_run:
            if previous.dag_run.split("/", 1)[0] != dag_id:
                raise _held_by_dag_run(warehouse, previous)
            log.warning(
                "took over the warehouse lock of DAG run %s (since %s): runs of %s never overlap "
                "(max_active_runs=1), so it ended without its release_warehouse task",
                previous.dag_run,
                previous.since,
                dag_id,
            )
        elif previous:
            _took_over_stale(warehouse, previous)
        holder = _new_holder(f"Airflow DAG {dag_id}, run {run_id}", dag_run=me)
        _write(path, holder)
        return holder


def release_for_dag_run(dag_id: str, run_id: str, *, warehouse: Path | None = None) -> bool:
    """Release the warehouse if this DAG run holds it (teardown task); False if it did not."""
    warehouse = warehouse or config.warehouse_path()
    path = lock_path(warehouse)
    me = f"{dag_id}/{run_id}"
    with _os_locked(warehouse, path, TASK_WAIT_SECONDS):
        previous = _read(path)
        if not previous or previous.dag_run != me:
            log.warning(
                "the warehouse %s is not held by DAG run %s (holder: %s): left as it is",
                warehouse,
                me,
                previous.holder if previous else "none",
            )
            return False
        _write(path, None)
        return True


def unlock(*, warehouse: Path | None = None) -> Holder | None:
    """Clear a lock no live process holds (a DAG run that ended without its teardown).

    Returns the holder it cleared (None: there was none). A live process keeps its lock:
    ``WarehouseLocked`` names it.
    """
    warehouse = warehouse or config.warehouse_path()
    path = lock_path(warehouse)
    if not path.exists():
        return None
    with _os_locked(warehouse, path, 0):
        previous = _read(path)
        if previous:
            _write(path, None)
        return previous
