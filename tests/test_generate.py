"""The demo generator: deterministic, documented layout, realistic rates, a learnable signal."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from leadscore import generate as generate_module
from leadscore.generate import ACTIVITY_TYPES, CUSTOM_PROPERTIES, FREE_MAIL, LEAD_ORIGINS, generate
from leadscore.sources import ENTITIES

ROOT = Path(__file__).resolve().parents[1]
END = date(2026, 3, 31)
DAYS = 45
#: The last commit whose generator wrote the landing files row by row (pandas ``to_csv`` per day,
#: ``json.dumps`` per record): the world and the file format the DuckDB writer must keep.
ROW_BY_ROW_COMMIT = "d161d15907377c8fe0947261e22b85b2a90e06db"


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    generate(out, seed=3, scale=0.1, end_date=END, days=DAYS)
    return out


def _frame(root: Path, qualified: str) -> pd.DataFrame:
    entity = next(e for e in ENTITIES if e.qualified == qualified)
    frames = []
    for path in sorted((root / entity.source / entity.name).iterdir()):
        if entity.file_format == "csv":
            f = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            lines = [json.loads(line) for line in path.read_text().splitlines()]
            f = pd.DataFrame(lines, columns=list(entity.columns), dtype=object)
        frames.append(f.assign(_file_day=path.stem))
    return pd.concat(frames, ignore_index=True)


def test_same_seed_gives_identical_files(small, tmp_path):
    generate(tmp_path, seed=3, scale=0.1, end_date=END, days=DAYS)
    assert _digest(tmp_path) == _digest(small)


def test_another_seed_gives_other_data(small, tmp_path):
    generate(tmp_path, seed=4, scale=0.1, end_date=END, days=DAYS)
    assert _digest(tmp_path) != _digest(small)


def test_one_file_per_entity_and_day_with_documented_columns(small):
    days = {(END - timedelta(days=i)).isoformat() for i in range(DAYS)}
    for entity in ENTITIES:
        folder = small / entity.source / entity.name
        files = sorted(folder.iterdir())
        assert {p.stem for p in files} == days, entity.qualified
        assert {p.suffix for p in files} == {f".{entity.extension}"}
        if entity.file_format == "csv":
            # the documented columns, then the demo CRM's custom properties
            expected = [*entity.columns, *CUSTOM_PROPERTIES.get(entity.qualified, ())]
            for path in files:
                with path.open(newline="") as fh:
                    assert next(csv.reader(fh)) == expected, path


def test_records_fall_on_their_file_day_and_keys_are_unique_per_file(small):
    for entity in ENTITIES:
        frame = _frame(small, entity.qualified)
        if frame.empty:
            continue
        assert (frame[entity.day_column].str[:10] == frame["_file_day"]).all(), entity.qualified
        dup = frame.duplicated([*entity.keys, "_file_day"])
        assert not dup.any(), f"{entity.qualified}: {frame[dup].head()}"


def test_rates_look_like_real_exports(tmp_path):
    generate(tmp_path, seed=11, scale=0.3, end_date=END, days=120)
    events = _frame(tmp_path, "email/events").event_type.value_counts()
    sent = events["delivered"] + events["bounce"]
    assert 0.20 <= events["open"] / events["delivered"] <= 0.40
    assert 0.01 <= events["click"] / events["delivered"] <= 0.06
    assert 0.005 <= events["bounce"] / sent <= 0.025
    contacts = _frame(tmp_path, "crm/contacts")
    domains = contacts.email.str.split("@").str[1]
    free = domains.isin(FREE_MAIL).mean()
    assert 0.08 <= free <= 0.16
    assert 0.1 <= (contacts.department == "").mean() <= 0.3, "department is often missing"
    web = _frame(tmp_path, "web/events")
    assert 0.2 <= web.contact_id.isna().mean() <= 0.4, "anonymous visitors"


def test_winners_engage_more_than_losers(tmp_path):
    """The hidden propensity shows: contacts who win deals clicked and visited more."""
    generate(tmp_path, seed=5, scale=0.3, end_date=END, days=365)
    deals = _frame(tmp_path, "crm/deals")
    closed = deals[deals.stage.isin(["closed_won", "closed_lost"])]
    won = closed.groupby("contact_id").stage.apply(lambda s: (s == "closed_won").any())
    web = _frame(tmp_path, "web/events").groupby("contact_id").size()
    activity = web.reindex(won.index, fill_value=0)
    assert 0.15 <= won.mean() <= 0.45, f"win rate {won.mean():.2f}"
    assert activity[won].median() > activity[~won].median()


def test_deals_move_through_stages_like_a_real_crm(tmp_path):
    """One version per stage entered, in order, between creation and close: won deals usually
    reach proposal or negotiation first, lost ones often drop out early and wait in their last
    stage longer before they are closed lost (what deal scoring learns from)."""
    generate(tmp_path, seed=5, scale=0.3, end_date=END, days=365)
    deals = _frame(tmp_path, "crm/deals").sort_values(["deal_id", "updated_at"])
    order = {s: i for i, s in enumerate(generate_module.OPEN_STAGES)}
    order.update(closed_won=len(order), closed_lost=len(order))
    step = deals.stage.map(order).groupby(deals.deal_id).diff().dropna()
    assert (step > 0).all(), "stages only move forward"
    closed = deals[deals.stage.isin(["closed_won", "closed_lost"])].set_index("deal_id")
    open_versions = deals[~deals.stage.isin(["closed_won", "closed_lost"])]
    last = open_versions.groupby("deal_id").tail(1).set_index("deal_id").loc[closed.index]
    won = closed.stage == "closed_won"
    late = last.stage.isin(["proposal", "negotiation"])
    assert late[won].mean() >= 0.75, f"won deals reaching proposal: {late[won].mean():.2f}"
    assert late[~won].mean() <= 0.35, f"lost deals reaching proposal: {late[~won].mean():.2f}"
    waited = (pd.to_datetime(closed.updated_at) - pd.to_datetime(last.updated_at)).dt.days
    assert waited[~won].median() > waited[won].median(), "lost deals wait longer"


def test_the_demo_crm_holds_custom_properties_activities_and_time_on_site(small):
    """What real CRMs hold beyond the documented columns, and it says something about buyers."""
    contacts = _frame(small, "crm/contacts")
    assert set(contacts.lead_origin.dropna()) - {""} <= set(LEAD_ORIGINS)
    assert 0.2 <= (contacts.annual_budget != "").mean() <= 0.6, "a budget is often not stated"
    activities = _frame(small, "crm/activities")
    assert set(activities.activity_type) <= set(ACTIVITY_TYPES)
    assert set(activities.contact_id) <= set(contacts.contact_id)
    talks = activities[activities.activity_type.isin(["call", "meeting"])]
    assert (talks.duration_seconds != "").any()
    web = _frame(small, "web/events")
    viewed = web[web.event_type == "page_view"]
    assert viewed.duration_seconds.notna().all()


# --- the DuckDB writer writes what the row-by-row writer wrote ----------------------------------


def _records(path: Path) -> list:
    """A landing file as parsed values: CSV rows (header first) or JSON objects."""
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            return list(csv.reader(fh))
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _same_records(expected: Path, actual: Path) -> None:
    files = sorted(p.relative_to(expected) for p in expected.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(actual) for p in actual.rglob("*") if p.is_file())
    for name in files:
        assert _records(actual / name) == _records(expected / name), name


def _row_by_row_generator(tmp_path: Path):
    """``leadscore.generate`` as it was at :data:`ROW_BY_ROW_COMMIT`, imported from git."""
    try:
        source = subprocess.run(
            ["git", "show", f"{ROW_BY_ROW_COMMIT}:plugins/leadscore/generate.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"commit {ROW_BY_ROW_COMMIT[:7]} is not in this checkout's git history")
    path = tmp_path / "row_by_row_generate.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("row_by_row_generate", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_the_world_and_its_files_are_the_ones_the_row_by_row_writer_wrote(small, tmp_path):
    """Same files, same records in each, in the same order: the demo world did not change when
    DuckDB took over the writing. Deals have realistic stage paths since (issue 13), drawn from a
    random stream of their own: their files changed on purpose, every other file is as it was.
    (Once the rest of the world changes on purpose, this test has done its job: delete it; the
    writer's own tests below stay.)"""
    old = _row_by_row_generator(tmp_path)
    old.generate(tmp_path / "old", seed=3, scale=0.1, end_date=END, days=DAYS)
    kept = shutil.copytree(small, tmp_path / "new")
    for world in (tmp_path / "old", kept):
        shutil.rmtree(world / "crm" / "deals")
    _same_records(tmp_path / "old", kept)


def test_chunks_of_any_size_write_the_same_files(small, tmp_path, monkeypatch):
    """Memory follows the chunks and slices; the files do not depend on their sizes (chunks of
    days cut inside and across days, events worked on in slices of 160)."""
    monkeypatch.setattr(generate_module._Writer, "CHUNK_ROWS", 97)
    monkeypatch.setattr(generate_module._Writer, "WINDOW", 1000)
    monkeypatch.setattr(generate_module, "SLICE", 160)
    generate(tmp_path, seed=3, scale=0.1, end_date=END, days=DAYS)
    assert _digest(tmp_path) == _digest(small)


def test_event_rate_multiplies_email_and_web_events_and_leaves_the_crm_as_it_was(small, tmp_path):
    summary = generate(tmp_path, seed=3, scale=0.1, end_date=END, days=DAYS, event_rate=2.0)
    crm = {k: v for k, v in _digest(small).items() if k.startswith("crm")}
    assert {k: v for k, v in _digest(tmp_path).items() if k.startswith("crm")} == crm
    for qualified in ("email/events", "web/events"):
        once = len(_frame(small, qualified))
        assert 1.6 <= summary.rows[qualified] / once <= 2.4, qualified


def _row_by_row_write(out: Path, start: date, days: int, qualified: str, frame: pd.DataFrame):
    """The writer the DuckDB one replaced, as it was: sort, then one file per day."""
    entity = next(e for e in ENTITIES if e.qualified == qualified)
    folder = out / entity.source / entity.name
    folder.mkdir(parents=True, exist_ok=True)
    frame = frame[(frame["_day"] >= 0) & (frame["_day"] < days)]
    frame = frame.sort_values(["_day", entity.day_column, *entity.keys], kind="stable")
    bounds = np.searchsorted(frame["_day"].to_numpy(), np.arange(days + 1))
    body = frame[[*entity.columns, *CUSTOM_PROPERTIES.get(entity.qualified, ())]]
    for d in range(days):
        chunk = body.iloc[bounds[d] : bounds[d + 1]]
        path = folder / f"{(start + timedelta(days=d)).isoformat()}.{entity.extension}"
        if entity.file_format == "csv":
            chunk.to_csv(path, index=False, lineterminator="\n")
            continue
        with path.open("w", encoding="utf-8") as fh:
            for record in chunk.itertuples(index=False, name=None):
                values = {
                    k: int(v) if isinstance(v, float) and v.is_integer() else v
                    for k, v in zip(body.columns, record, strict=True)
                    if v is not None and v == v
                }
                fh.write(json.dumps(values) + "\n")


def _duckdb_write(out, start, days, qualified, frame, sql=None):
    with generate_module._Writer(out, start, days, SimpleNamespace(update=lambda n: None)) as w:
        w.write(qualified, frame, sql=sql)


def _stamps(seconds: list[int]) -> np.ndarray:
    return np.datetime64("2026-03-01T00:00:00", "s") + np.array(seconds, dtype="timedelta64[s]")


def _text(stamps: np.ndarray) -> list[str]:
    return [f"{v}Z" for v in stamps.astype(str)]


def test_csv_files_are_byte_for_byte_the_row_by_row_writers(tmp_path):
    """Quoting, empty and missing values, floats as Python prints them, whole-number columns
    with gaps, the window, and ties kept in the order the rows were made."""
    day = 86400
    updated = _stamps([5, 5, day + 7, day + 3, 3 * day - 1, -1, 4 * day])
    final = pd.DataFrame(
        {
            "contact_id": ["P1", "P1", "P3", "P1", "P4", "P5", "P6"],
            "company_id": ["C1", "C2", "C1", "C3", "C2", "C1", "C1"],
            "first_name": ["Zoë", 'The "Boss"', "Ann", "Bo", "", "x", "y"],
            "last_name": ["Smith, Jr.", "Lee", None, "Ng", "Ox", "x", "y"],
            "email": ["a@x.io", "b@x.io", "c@x.io", "d@x.io", "e@x.io", "f@x.io", "g@x.io"],
            "job_title": ["VP, Sales", None, "CTO", "CTO", None, "x", "y"],
            "department": ["Sales", "IT", None, "IT", "Sales", "IT", "IT"],
            "lead_source": [None, "webinar", "event", "event", None, "x", "y"],
            "created_at": _text(updated),
            "updated_at": _text(updated),
            "lead_origin": ["chat", None, "api", "chat", "api", "x", "y"],
            "annual_budget": [1234000.0, np.nan, 0.1, 1e16, 15234.56, 1.0, 2.0],
            "_day": [0, 0, 1, 1, 2, -1, 4],
        }
    )
    typed = final.assign(
        created_at=updated,
        updated_at=updated,
        department=pd.Categorical(final["department"]),
    )
    _row_by_row_write(tmp_path / "old", date(2026, 3, 1), 4, "crm/contacts", final)
    _duckdb_write(tmp_path / "new", date(2026, 3, 1), 4, "crm/contacts", typed)
    assert _digest(tmp_path / "new") == _digest(tmp_path / "old")
    first = _records(tmp_path / "new/crm/contacts/2026-03-01.csv")
    assert [row[2] for row in first[1:]] == ["Zoë", 'The "Boss"'], "a tie keeps its order"


def test_jsonl_files_hold_the_row_by_row_writers_records(tmp_path):
    """Missing values left out, whole numbers as integers, text escaped, ids built in SQL."""
    occurred = _stamps([10, 10, 86400 + 1, 86400, 2 * 86400 + 5])
    final = pd.DataFrame(
        {
            "event_id": ["WE000000002", "WE000000001", "WE000000003", "WE000000004", "WE000000005"],
            "event_type": ["page_view", "page_view", "demo_request", "page_view", "page_view"],
            "contact_id": ["P1", None, "P2", None, "P3"],
            "anonymous_id": ["v1", "a7", "v2", "a8", "v3"],
            "page_url": ["https://x.io/é", 'https://x.io/"q"', "https://x.io/a\\b", "u", "u"],
            "content_topic": ["pricing", None, None, "ü", None],
            "product_line": [None, None, "analytics", None, None],
            "occurred_at": _text(occurred),
            "duration_seconds": [60.0, np.nan, 12.5, 3e9, np.nan],
            "_day": [0, 0, 1, 1, 2],
        }
    )
    typed = final.assign(
        event_id=[2, 1, 3, 4, 5],
        event_type=pd.Categorical(final["event_type"]),
        contact_id=pd.Categorical(final["contact_id"]),
        occurred_at=occurred,
    )
    _row_by_row_write(tmp_path / "old", date(2026, 3, 1), 2, "web/events", final)
    _duckdb_write(
        tmp_path / "new",
        date(2026, 3, 1),
        2,
        "web/events",
        typed,
        sql={"event_id": "printf('WE%09d', event_id)"},
    )
    _same_records(tmp_path / "old", tmp_path / "new")
    assert (
        (tmp_path / "new/web/events/2026-03-02.jsonl")
        .read_text()
        .startswith('{"event_id": "WE000000004", "event_type": "page_view", "anonymous_id": "a8"')
    )


def test_a_line_break_in_a_csv_value_is_refused_naming_the_entity(tmp_path):
    frame = pd.DataFrame(
        {
            "response_id": ["N1"],
            "company_id": ["C1"],
            "contact_id": ["two\nlines"],
            "score": [9],
            "responded_at": _stamps([0]),
            "_day": [0],
        }
    )
    with pytest.raises(ValueError, match="crm/nps_responses: 2 lines written for 1 rows"):
        _duckdb_write(tmp_path, date(2026, 3, 1), 1, "crm/nps_responses", frame)
