"""Inspect one delivered export file before it is loaded: is it the file docs/sources.md describes?

Loading trusts nothing about a file. DuckDB's CSV sniffer guesses dialects, so a truncated or
semicolon-separated file could load as one wide column; this module reads every file strictly
(UTF-8, RFC 4180 with ``,`` and ``"``, or one JSON object per line) and fails with a message that
names the file, the line and what to do. It also fingerprints the file, so the same export
delivered again under another day's name is caught.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from leadscore.sources import Entity

#: How much of a file is shown when it is not what it should be.
PREVIEW_CHARS = 60
#: The longest CSV field accepted, in characters: 128 KiB, the default limit of Python's csv
#: reader (``csv.field_size_limit()``). A longer value is almost always a broken export (a whole
#: document or log pasted into a note field); docs/sources.md documents the limit.
MAX_FIELD_CHARS = 128 * 1024
#: Columns docs/sources.md types as timestamps: ISO 8601, in UTC (``2026-11-18T14:03:22Z``) or
#: with an offset (``+01:00``, ``-0500``, ``+01``), which the load converts to UTC.
TIMESTAMP_COLUMNS = frozenset(
    {
        "created_at",
        "updated_at",
        "closed_at",
        "responded_at",
        "sent_at",
        "occurred_at",
        "last_changed",
    }
)
#: A timestamp with an offset from UTC; groups: local date and time, fraction, sign, hours,
#: minutes (RE2 syntax, as DuckDB's regexp functions read it).
OFFSET_TIMESTAMP_REGEX = (
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?([+-])([01]\d|2[0-3])(?::?([0-5]\d))?$"
)


class DeliveryError(RuntimeError):
    """A delivered file that cannot be loaded; the message names source, file, line, column."""


@dataclass(frozen=True)
class FileCheck:
    """What a delivered file holds, once it passed inspection."""

    path: Path
    rows: int
    sha256: str
    #: Columns (CSV header) or keys (JSONL) that docs/sources.md does not list: schema drift.
    extra_columns: tuple[str, ...] = field(default=())


def inspect_file(entity: Entity, path: Path, shown_as: str) -> FileCheck:
    """Read ``path`` strictly; raise :class:`DeliveryError` naming ``shown_as`` on any defect."""
    data = path.read_bytes()
    where = f"{entity.qualified}: file {shown_as}"
    text = _decode(data, where, entity.file_format)
    if entity.file_format == "csv":
        rows, extra = _inspect_csv(entity, text, where)
    else:
        rows, extra = _inspect_jsonl(entity, text, where)
    return FileCheck(path, rows, hashlib.sha256(data).hexdigest(), extra)


def _decode(data: bytes, where: str, file_format: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DeliveryError(
            f"{where} is not UTF-8: byte 0x{data[err.start]:02x} at line {line} "
            f"(byte offset {err.start}); re-export it as UTF-8."
        ) from err
    if text.startswith("\ufeff") and file_format == "jsonl":
        raise DeliveryError(
            f"{where} starts with a UTF-8 byte-order mark, which JSON Lines does not allow "
            "(RFC 8259); re-export it as UTF-8 without BOM."
        )
    text = text.removeprefix("\ufeff")  # a byte-order mark, as spreadsheet exports write
    head = text.lstrip()[:15].lower()
    if head.startswith(("<!doctype", "<html", "<?xml", "<head", "<body")):
        raise DeliveryError(
            f"{where} is an HTML/XML page, not an export (it starts with "
            f"{_preview(text.lstrip())!r}): the export or download probably failed and saved an "
            "error page; fetch the file again."
        )
    return text


def _preview(text: str) -> str:
    first = text.splitlines()[0] if text else ""
    return first[:PREVIEW_CHARS] + ("…" if len(first) > PREVIEW_CHARS else "")


def _inspect_csv(entity: Entity, text: str, where: str) -> tuple[int, tuple[str, ...]]:
    if not text.strip():
        raise DeliveryError(
            f"{where} is empty (zero bytes or blank, no header row); a day without changes still "
            f"delivers the header: {','.join(entity.columns)}."
        )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=",", quotechar='"', strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as err:
        raise DeliveryError(f"{where}: header line is not valid CSV ({err}).") from err
    absent = [c for c in entity.columns if c not in header]
    if absent:
        hint = ""
        if len(header) == 1 and any(d in header[0] for d in (";", "\t", "|")):
            delimiter = next(d for d in (";", "\t", "|") if d in header[0])
            hint = f" It is separated by {delimiter!r}, not ','; re-export it comma-separated."
        unknown = [h for h in header if h not in entity.columns]
        if unknown and not hint:
            hint = f" It has column(s) {', '.join(unknown)} instead (renamed?)."
        raise DeliveryError(
            f"{where} lacks column(s) {', '.join(absent)}; its header is "
            f"{_preview(','.join(header))!r}.{hint} Expected columns (docs/sources.md): "
            f"{', '.join(entity.columns)}."
        )
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise DeliveryError(f"{where}: header repeats column(s) {', '.join(duplicated)}.")
    width = len(header)
    rows = 0
    try:
        # the reader's own limit would stop mid-row with a bare "field larger than field limit";
        # lifted for this file, the limit is checked below, naming the column and row
        with _field_limit(len(text) + 1):
            for record in reader:
                if not record:
                    continue  # a blank line: csv yields [] for it
                rows += 1
                if len(record) != width:
                    what = "cut off or a stray line break?" if len(record) < width else "stray ','?"
                    raise DeliveryError(
                        f"{where}: row {rows} (line {reader.line_num}) has {len(record)} fields, "
                        f"the header has {width} ({what}); fix or re-export the file."
                    )
                if max(map(len, record)) > MAX_FIELD_CHARS:
                    raise _field_too_long(record, header, rows, reader.line_num, where)
    except csv.Error as err:
        raise DeliveryError(
            f"{where}: row {rows + 1} (line {reader.line_num}) is not valid CSV ({err}); "
            "the file may be cut off: re-export it."
        ) from err
    extra = tuple(h for h in header if h not in entity.columns)
    return rows, extra


@contextmanager
def _field_limit(limit: int) -> Iterator[None]:
    """Raise the csv module's field size limit (process-wide) while one file is read."""
    previous = csv.field_size_limit(max(limit, csv.field_size_limit()))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _field_too_long(
    record: list[str], header: list[str], row: int, line: int, where: str
) -> DeliveryError:
    column, value = next(
        (c, v) for c, v in zip(header, record, strict=True) if len(v) > MAX_FIELD_CHARS
    )
    return DeliveryError(
        f"{where}: field {column} of row {row} (ending on line {line}) is {len(value):,} "
        f"characters long, longer than the 128 KiB limit ({MAX_FIELD_CHARS:,} characters) of a "
        "CSV field (docs/sources.md); shorten that value in the source system or leave the "
        "column out of the export, then re-export the file."
    )


def _inspect_jsonl(entity: Entity, text: str, where: str) -> tuple[int, tuple[str, ...]]:
    rows = 0
    seen: set[str] = set()
    missing_everywhere = set(entity.required)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        rows += 1
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DeliveryError(
                f"{where}: line {number} is not valid JSON ({err.msg} at character {err.colno}): "
                f"{_preview(line)!r}; the file may be cut off: re-export it."
            ) from err
        if not isinstance(record, dict):
            raise DeliveryError(
                f"{where}: line {number} is a JSON {type(record).__name__}, not an object."
            )
        seen.update(record)
        missing_everywhere.difference_update(k for k, v in record.items() if v is not None)
    extra = tuple(sorted(seen - set(entity.columns)))
    if rows and missing_everywhere:
        absent = [c for c in entity.required if c in missing_everywhere]
        renamed = f" It has key(s) {', '.join(extra)} instead (renamed?)." if extra else ""
        raise DeliveryError(
            f"{where}: required key(s) {', '.join(absent)} missing from all {rows} records."
            f"{renamed} Expected keys (docs/sources.md): {', '.join(entity.columns)}."
        )
    return rows, extra
