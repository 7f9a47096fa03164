"""What every API source shares: its connection, an HTTP client, cursor state and landing files.

An API source (``hubspot``, ``mailchimp``) pulls one data interval ``[start, end)`` and writes the
documented landing files of that interval (docs/sources.md), so strict inspection, the raw gate
and quarantine treat API data exactly like delivered files. Nothing here knows a vendor.

- **Connection.** Credentials come from the environment (``LEADSCORE_<VENDOR>_TOKEN``) or from the
  Airflow connection ``<vendor>_default`` (its password is the token, its host the base URL). The
  base URL can be overridden with ``LEADSCORE_<VENDOR>_BASE_URL`` so tests, proxies and sandboxes
  can point elsewhere. The token is never logged, written to a file or shown in an error:
  :class:`Connection` hides it from ``repr`` and :func:`scrub` removes it from any message.
- **HTTP.** :class:`ApiClient` is dlt's ``RESTClient`` on dlt's retrying session: 429 is retried
  after its ``Retry-After``, 5xx and connection errors with exponential back-off, a bounded number
  of times. :class:`Throttle` keeps to a vendor's documented request rate.
- **All or nothing.** :class:`Landing` collects a pull's rows per entity and day (in memory),
  writes them to a scratch folder and moves them into the landing folder only when the whole pull
  succeeded: a failed page lands nothing of the interval.
- **Cursors.** ``raw.api_cursors`` records, per vendor and stream, the interval pulled, the
  newest modification time seen, and the record and request counts. The first pull of a stream
  (no cursor yet) is a history pull: the interval's first day file also carries every record last
  changed before it, as an initial export does.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import requests
from requests.auth import AuthBase

from leadscore.sources import Entity

log = logging.getLogger(__name__)

#: How many times a request is tried before the pull fails (429, 5xx, connection errors).
MAX_ATTEMPTS = int(os.environ.get("LEADSCORE_API_MAX_ATTEMPTS", "6"))
#: Exponential back-off factor in seconds between attempts without a Retry-After header.
BACKOFF_SECONDS = float(os.environ.get("LEADSCORE_API_BACKOFF_SECONDS", "1"))
#: The longest wait between two attempts, Retry-After included, in seconds.
MAX_RETRY_DELAY_SECONDS = float(os.environ.get("LEADSCORE_API_MAX_RETRY_DELAY_SECONDS", "60"))
#: Seconds before a request without an answer is given up (and retried).
REQUEST_TIMEOUT_SECONDS = float(os.environ.get("LEADSCORE_API_TIMEOUT_SECONDS", "60"))


class ApiError(RuntimeError):
    """An API pull or push that failed; the message names the connection and what to check,
    never a credential."""


class ApiAuthError(ApiError):
    """The credentials are missing, incomplete or refused (401/403): retrying will not help."""


@dataclass(frozen=True)
class Connection:
    """Where a vendor's API is and how to authenticate; ``secret`` never shows in ``repr``."""

    vendor: str
    #: Where the settings came from, for messages: an Airflow connection id or env variable names.
    name: str
    base_url: str
    secret: str = field(repr=False)

    def scrub(self, text: str) -> str:
        return scrub(text, self.secret)

    @property
    def shown_url(self) -> str:
        """The base URL for messages: without a user, password, query string or fragment."""
        return bare_url(self.base_url)


def bare_url(url: str) -> str:
    """``scheme://host[:port]/path`` of ``url``: any ``user:password@``, query string and
    fragment removed, so a credential written into a URL never shows."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return f"{parts.scheme}://{host}{parts.path.rstrip('/')}"


def json_object(response: requests.Response) -> dict:
    """The response body as a JSON object; ``{}`` when it is empty, not JSON or not an object
    (for reading an error's details, where a missing detail is not an error of its own)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def bearer_auth(conn: Connection) -> AuthBase:
    """dlt's Bearer token auth with the connection's token (HubSpot private apps, OAuth)."""
    from dlt.sources.helpers.rest_client.auth import BearerTokenAuth

    return BearerTokenAuth(conn.secret)


def scrub(text: str, *secrets: str) -> str:
    """``text`` with every secret (and any of its 8+ character pieces split by ``-``) replaced."""
    for secret in secrets:
        if not secret:
            continue
        text = text.replace(secret, "***")
        for piece in secret.split("-"):
            if len(piece) >= 8:
                text = text.replace(piece, "***")
    return text


def connection(vendor: str, *, default_base_url: str | None = None) -> Connection:
    """The connection settings of ``vendor`` from the environment or from Airflow.

    ``LEADSCORE_<VENDOR>_TOKEN`` (and ``LEADSCORE_<VENDOR>_BASE_URL``) win; otherwise the Airflow
    connection ``<vendor>_default`` (``LEADSCORE_<VENDOR>_CONN_ID`` names another): password =
    token, host = base URL. ``default_base_url`` applies when neither names a host.
    """
    upper = vendor.upper()
    token_env = f"LEADSCORE_{upper}_TOKEN"
    url_env = f"LEADSCORE_{upper}_BASE_URL"
    conn_id = os.environ.get(f"LEADSCORE_{upper}_CONN_ID", f"{vendor}_default")
    base_url = os.environ.get(url_env) or None
    token = os.environ.get(token_env)
    name = token_env
    if not token:
        name = f"Airflow connection {conn_id!r}"
        airflow_conn = _airflow_connection(conn_id)
        if airflow_conn is None or not airflow_conn.password:
            raise ApiAuthError(
                f"{vendor}: no credentials. Set {token_env} or create the Airflow connection "
                f"{conn_id!r} with the token as its password (docs/connectors.md)."
            )
        token = airflow_conn.password
        if not base_url and airflow_conn.host:
            host = airflow_conn.host
            base_url = host if "://" in host else f"https://{host}"
    base_url = base_url or default_base_url
    if not base_url:
        raise ApiAuthError(f"{vendor}: no base URL. Set {url_env} or the host of {name}.")
    _mask_in_airflow(token)
    return Connection(vendor, name, base_url.rstrip("/"), token)


def _mask_in_airflow(secret: str) -> None:
    """Inside an Airflow task, have Airflow's log masker hide ``secret`` in every task log line
    (a library's log included), as it does for its own connections' passwords. Outside Airflow
    (the CLI) nothing is imported: the token is kept out of messages by :func:`scrub`."""
    if "airflow.sdk" not in sys.modules:
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - an Airflow without the task SDK
        return
    mask_secret(secret)


def _airflow_connection(conn_id: str):
    try:
        from airflow.sdk import BaseHook
    except ImportError:  # pragma: no cover - Airflow is installed with the project
        return None
    try:
        return BaseHook.get_connection(conn_id)
    except Exception:
        log.debug("Airflow connection %s not found", conn_id)
        return None


class Throttle:
    """At most ``per_second`` requests per second from this process (a vendor's documented limit);
    the 429 retry handles what this cannot see (other apps sharing the account's limit)."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            time.sleep(delay)


def retrying_session(conn: Connection, throttle: Throttle | None = None) -> requests.Session:
    """dlt's retrying ``requests`` session: 429 after its Retry-After, 5xx and connection errors
    with exponential back-off, :data:`MAX_ATTEMPTS` attempts in all. A response that is still
    not a success after the last attempt raises :class:`ApiError` (see :func:`check_response`)."""
    # The connection is read from Airflow by connection() itself. dlt's own Airflow provider
    # (dlt secrets in Airflow Variables) is not used, and resolving it imports Airflow: seconds
    # per process.
    os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")
    from dlt.sources.helpers.requests import Client

    client = Client(
        request_timeout=REQUEST_TIMEOUT_SECONDS,
        request_max_attempts=MAX_ATTEMPTS,
        request_backoff_factor=BACKOFF_SECONDS,
        request_max_retry_delay=MAX_RETRY_DELAY_SECONDS,
        respect_retry_after_header=True,
        raise_for_status=False,
    )
    session = client.session
    retried_send = session.send  # dlt wrapped it in its retry policy

    def send(request: requests.PreparedRequest, **kwargs: object) -> requests.Response:
        if throttle is not None:
            throttle.wait()
        response = retried_send(request, **kwargs)
        check_response(conn, response, f"{request.method} {request.path_url.split('?')[0]}")
        return response

    session.send = send  # type: ignore[method-assign]
    return session


def check_response(conn: Connection, response: requests.Response, what: str) -> None:
    """Raise :class:`ApiError` for a response that is not a success, naming what to check."""
    status = response.status_code
    if status < 400:
        return
    if status in (401, 403):
        raise ApiAuthError(
            f"{conn.vendor}: {what} was refused ({status}) with the credentials of {conn.name}: "
            "check that the token is current and has the scopes docs/connectors.md lists."
        )
    body = conn.scrub(response.text[:300])
    raise ApiError(f"{conn.vendor}: {what} failed with HTTP {status}: {body}")


class ApiClient:
    """dlt's ``RESTClient`` for one connection on :func:`retrying_session`, counting requests.

    :meth:`paginate` yields the pages of a listing with one of dlt's paginators (cursor, offset,
    next link); :meth:`request` sends one call. Both raise :class:`ApiError` for a response that
    is not a success once retries are spent, and never show the credential.
    """

    def __init__(
        self,
        conn: Connection,
        *,
        auth: requests.auth.AuthBase,
        throttle: Throttle | None = None,
    ) -> None:
        from dlt.sources.helpers.rest_client import RESTClient

        self.conn = conn
        #: Requests sent, every attempt (retries) included.
        self.requests = 0
        #: The last response received (any attempt), to read a refusal's details.
        self.last_response: requests.Response | None = None
        #: A progress counter (:func:`counting`) that every request advances, or None.
        self.progress = None
        session = retrying_session(conn, throttle)
        self.rest = RESTClient(base_url=conn.base_url, auth=auth, session=session)

    def _count(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        """Runs on every attempt. It replaces dlt's per-attempt ``raise_for_status``, which would
        stop a 429 from being retried; :func:`retrying_session` checks the final response."""
        self.requests += 1
        self.last_response = response
        if self.progress is not None:
            self.progress.update(1)

    def _unreachable(self, what: str, err: requests.RequestException) -> ApiError:
        return ApiError(
            f"{self.conn.vendor}: {what}: no answer from {self.conn.shown_url} "
            f"({type(err).__name__}) after {MAX_ATTEMPTS} attempts; check the base URL of "
            f"{self.conn.name} and the network, then rerun."
        )

    def paginate(
        self,
        path: str,
        *,
        method: str = "GET",
        params: dict | None = None,
        json: dict | None = None,
        paginator: object | None = None,
        data_selector: str | None = None,
    ) -> Iterator[list]:
        try:
            yield from self.rest.paginate(
                path,
                method=method,
                params=params,
                json=json,
                paginator=paginator,
                data_selector=data_selector,
                hooks={"response": [self._count]},
            )
        except requests.RequestException as err:
            if isinstance(err, ValueError):  # a body that is not JSON: answered, but wrongly
                raise self._not_documented(path, err) from err
            raise self._unreachable(f"{method} {path}", err) from None
        except (ValueError, KeyError, TypeError) as err:
            raise self._not_documented(path, err) from err

    def _not_documented(self, path: str, err: Exception) -> ApiError:
        return ApiError(
            f"{self.conn.vendor}: a page of {path} is not what the API documents: "
            f"{self.conn.scrub(str(err))}"
        )

    def request(
        self, method: str, path: str, *, params: dict | None = None, json: dict | None = None
    ) -> requests.Response:
        try:
            return self.rest.request(
                path, method=method, params=params, json=json, hooks={"response": [self._count]}
            )
        except requests.RequestException as err:
            raise self._unreachable(f"{method} {path}", err) from None


@contextlib.contextmanager
def counting(what: str, *clients: ApiClient) -> Iterator[None]:
    """Show the requests ``clients`` send while the block runs as progress
    (:mod:`leadscore.progress`): a history pull of a big account takes minutes."""
    from leadscore.progress import counter

    with counter(what, unit="requests") as done:
        for client in clients:
            client.progress = done
        try:
            yield
        finally:
            for client in clients:
                client.progress = None


# ---- paging by modification time ------------------------------------------------------------


class TimeKeysetPaging:
    """Paging of a listing sorted by modification time, oldest first, by that time.

    Offset paging of a listing filtered on modification time skips a record whenever one before
    it changes during the pull: the changed one leaves the filtered set and every record after
    it moves one place forward, past the next page's offset. Here each page's query starts at
    the newest modification time of the page before, with the offset back at 0; the records of
    that instant come again and the caller skips versions it has seen. Only while a whole page
    shares one instant does the offset step forward (bounded by :meth:`check`).

    A vendor subclass says where a page's times are (:meth:`page_times`) and how a query starts
    at a time and an offset (:meth:`apply`). :func:`dlt_paginator` makes it a dlt paginator.
    """

    _has_next_page = True

    def __init__(self) -> None:
        super().__init__()
        #: the newest modification time seen, epoch milliseconds; None before the first page
        self.since_ms: int | None = None
        self.offset = 0

    def page_times(self, response: requests.Response) -> tuple[list[int | None], bool]:
        """The modification times (epoch ms) of the page's records, and whether more follow."""
        raise NotImplementedError

    def apply(self, request: object) -> None:
        """Make ``request`` start at :attr:`since_ms` and skip :attr:`offset` records."""
        raise NotImplementedError

    def check(self, newest_ms: int, page_size: int) -> None:
        """Refuse an offset the API does not allow (raise :class:`ApiError`)."""

    def update_state(self, response: requests.Response, data: list | None = None) -> None:
        times, more = self.page_times(response)
        known = [t for t in times if t is not None]
        if not more or not known:
            self._has_next_page = False  # the end, or a malformed page the caller refuses
            return
        newest = max(known)
        if self.since_ms is None or newest > self.since_ms:
            self.since_ms, self.offset = newest, 0
        else:
            self.offset += len(times)
        self.check(newest, len(times))

    def update_request(self, request: object) -> None:
        if self._has_next_page:  # dlt calls it after the last page too
            self.apply(request)


def dlt_paginator(paging: type[TimeKeysetPaging], *args: object) -> TimeKeysetPaging:
    """An instance of ``paging`` on dlt's ``BasePaginator``, for :meth:`ApiClient.paginate`.
    dlt is imported here, not with the module: seconds a process."""
    return _on_dlt(paging)(*args)


@functools.cache
def _on_dlt(paging: type) -> type:
    from dlt.sources.helpers.rest_client.paginators import BasePaginator

    return type(paging.__name__ + "Paginator", (paging, BasePaginator), {})


def epoch_ms(value: object) -> int | None:
    """An API timestamp (see :func:`parse_time`) in epoch milliseconds; None if it is not one."""
    try:
        at = parse_time(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return int(at.timestamp() * 1000) if at else None


# ---- cursors ----------------------------------------------------------------------------------

CURSOR_TABLE = "raw.api_cursors"


@dataclass(frozen=True)
class Cursor:
    vendor: str
    stream: str
    interval_start: datetime
    interval_end: datetime
    #: The newest modification (or event) time seen in the pull; None when it returned nothing.
    cursor: datetime | None
    records: int
    requests: int


@dataclass(frozen=True)
class PullResult:
    """What one API pull wrote: files, rows per entity, requests sent, and the cursors the caller
    saves once the files are loaded."""

    vendor: str
    files: list[Path]
    records: dict[str, int]
    requests: int
    cursors: list[Cursor]


def _create_cursor_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists raw")
    con.execute(
        f"""
        create table if not exists {CURSOR_TABLE} (
            vendor varchar not null,
            stream varchar not null,
            interval_start timestamp not null,
            interval_end timestamp not null,
            cursor timestamp,
            records bigint not null,
            requests bigint not null,
            fetched_at timestamp not null
        )
        """
    )


def last_pulled(warehouse: Path, vendor: str, stream: str) -> datetime | None:
    """The end of the latest interval pulled for ``vendor``/``stream``, or None (never pulled)."""
    return _pulled(warehouse, vendor, stream, "max(interval_end)")


def first_pulled(warehouse: Path, vendor: str, stream: str) -> datetime | None:
    """The start of the earliest interval pulled for ``vendor``/``stream``, or None (never pulled).

    With :func:`last_pulled` a source tells a rerun of its first interval (which carries the
    history, an initial export) from a rerun of a later one."""
    return _pulled(warehouse, vendor, stream, "min(interval_start)")


def _pulled(warehouse: Path, vendor: str, stream: str, aggregate: str) -> datetime | None:
    if not warehouse.exists():
        return None
    with duckdb.connect(str(warehouse), read_only=True) as con:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'raw' and table_name = 'api_cursors'"
        ).fetchone()[0]
        if not exists:
            return None
        row = con.execute(
            f"select {aggregate} from {CURSOR_TABLE} where vendor = ? and stream = ?",
            [vendor, stream],
        ).fetchone()
    return row[0].replace(tzinfo=UTC) if row and row[0] else None


#: The ``since`` of a history pull: every record changed before the interval.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def history_from(warehouse: Path, vendor: str, stream: str, start: datetime) -> datetime | None:
    """From when a pull of ``[start, ...)`` also fetches the records changed before ``start``
    (landing them on its first day, as an initial export does), or None (nothing before it).

    :data:`EPOCH` (the whole history) on a stream's first interval and on a rerun of it; the end
    of the last pulled interval when it ended before ``start`` (a gap after an interrupted run);
    otherwise None."""
    last = last_pulled(warehouse, vendor, stream)
    if last is None:
        return EPOCH
    first = first_pulled(warehouse, vendor, stream)
    if first is not None and first >= start:
        return EPOCH
    return last if last < start else None


def save_cursors(warehouse: Path, cursors: Iterable[Cursor]) -> None:
    """Record pulled intervals; a rerun of an interval replaces its row."""
    cursors = list(cursors)
    with duckdb.connect(str(warehouse)) as con:
        _create_cursor_table(con)
        con.execute("begin")
        for c in cursors:
            con.execute(
                f"delete from {CURSOR_TABLE} where vendor = ? and stream = ? "
                "and interval_start = ? and interval_end = ?",
                [c.vendor, c.stream, _naive(c.interval_start), _naive(c.interval_end)],
            )
            con.execute(
                f"insert into {CURSOR_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    c.vendor,
                    c.stream,
                    _naive(c.interval_start),
                    _naive(c.interval_end),
                    _naive(c.cursor) if c.cursor else None,
                    c.records,
                    c.requests,
                    _naive(datetime.now(UTC)),
                ],
            )
        con.execute("commit")


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


# ---- landing ----------------------------------------------------------------------------------


def property_column(vendor: str, name: str, columns: Iterable[str]) -> str:
    """The landing column of a vendor's custom property ``name``: the name itself, or
    ``<vendor>_<name>`` when it is also a documented column of the entity (in any case: DuckDB
    reads column names case-insensitively)."""
    taken = {c.lower() for c in columns}
    return f"{vendor}_{name}" if name.lower() in taken else name


def iso_utc(value: datetime) -> str:
    """``2026-11-18T14:03:22Z``: the landing files' timestamp form (milliseconds kept if any)."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + "Z"


def parse_time(value: str | int | float | None) -> datetime | None:
    """An API timestamp (ISO 8601 text or epoch milliseconds) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    text = str(value).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Landing:
    """The landing files of one pull, written to a scratch folder and moved into the landing
    folder by :meth:`commit` only once every page has arrived.

    ``add(entity, day, row)`` appends a row (a dict of landing columns plus custom properties) to
    the day's file; every day of ``days`` gets a file, header-only or empty when nothing happened.
    """

    def __init__(self, landing: Path, days: list[date]) -> None:
        self.landing = landing
        self.days = days
        self._rows: dict[tuple[str, date], list[dict]] = {}
        self._entities: dict[str, Entity] = {}

    def add(self, entity: Entity, day: date, row: dict) -> None:
        if day not in self.days:
            raise ValueError(f"{entity.qualified}: day {day} is outside the pulled interval")
        self._entities[entity.qualified] = entity
        self._rows.setdefault((entity.qualified, day), []).append(row)

    def declare(self, entity: Entity) -> None:
        """``entity`` is part of this pull even if no row comes: each day still gets a file."""
        self._entities[entity.qualified] = entity

    def rows(self, entity: Entity) -> int:
        return sum(len(v) for (q, _), v in self._rows.items() if q == entity.qualified)

    def commit(self) -> list[Path]:
        """Write every declared entity's day files to a scratch folder, then move each into
        place (a rename each). A failure while writing lands nothing; the moves themselves
        cannot fail half-way short of the disk or the process dying, and a rerun of the interval
        rewrites every file."""
        self.landing.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".pull-", dir=self.landing))
        moves: list[tuple[Path, Path]] = []
        try:
            for entity in self._entities.values():
                for day in self.days:
                    name = f"{entity.source}/{entity.name}/{day.isoformat()}.{entity.extension}"
                    staged = scratch / name
                    staged.parent.mkdir(parents=True, exist_ok=True)
                    _write_file(entity, staged, self._rows.get((entity.qualified, day), []))
                    moves.append((staged, self.landing / name))
            for staged, target in moves:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return [target for _, target in moves]


def _write_file(entity: Entity, path: Path, rows: list[dict]) -> None:
    documented = list(entity.columns)
    if entity.file_format == "csv":
        extras = sorted({k for row in rows for k in row if k not in entity.columns})
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=documented + extras, extrasaction="raise")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _csv_value(v) for k, v in row.items()})
    else:
        with path.open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso_utc(value)
    return value


def chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
