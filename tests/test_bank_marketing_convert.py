"""The Bank Marketing converter writes landing files the strict file inspection accepts."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.examples import bank_marketing as bank
from leadscore.sources import ENTITIES, entity
from leadscore.sources.delivery import inspect_file

ROWS = 3000

pytestmark = pytest.mark.skipif(
    not bank.DEFAULT_CSV.exists(), reason=f"real dataset not found at {bank.DEFAULT_CSV}"
)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> bank.ConversionSummary:
    return bank.convert(bank.DEFAULT_CSV, tmp_path_factory.mktemp("landing"), rows=ROWS)


def _read(summary: bank.ConversionSummary, qualified: str) -> pd.DataFrame:
    folder = summary.landing / qualified
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in sorted(folder.glob("*"))]
    return pd.concat(frames, ignore_index=True)


def _days(summary: bank.ConversionSummary) -> list[str]:
    n = (summary.last_day - summary.first_day).days + 1
    return [(summary.first_day + timedelta(days=d)).isoformat() for d in range(n)]


def test_every_entity_has_one_file_per_day(converted: bank.ConversionSummary) -> None:
    expected = _days(converted)
    for ent in ENTITIES:
        folder = converted.landing / ent.source / ent.name
        names = sorted(p.name for p in folder.iterdir())
        assert names == [f"{d}.{ent.extension}" for d in expected], ent.qualified
    sources = sorted(p.name for p in converted.landing.iterdir())
    assert sources == sorted({e.source for e in ENTITIES})


def test_every_file_passes_inspection(converted: bank.ConversionSummary) -> None:
    extras: dict[str, set[tuple[str, ...]]] = {}
    rows: dict[str, int] = {}
    for ent in ENTITIES:
        for path in sorted((converted.landing / ent.source / ent.name).iterdir()):
            check = inspect_file(ent, path, f"{ent.qualified}/{path.name}")  # raises if bad
            extras.setdefault(ent.qualified, set()).add(check.extra_columns)
            rows[ent.qualified] = rows.get(ent.qualified, 0) + check.rows
    contact_props = tuple(p for p, _ in bank.CONTACT_PROPERTIES)
    assert extras["crm/contacts"] == {contact_props}
    assert extras["crm/activities"] == {("campaign_phase",)}
    for qualified, found in extras.items():
        if qualified not in ("crm/contacts", "crm/activities"):
            assert found == {()}, qualified
    assert rows == converted.rows_per_entity
    assert rows["crm/companies"] == 1
    for qualified in ("crm/subscriptions", "crm/invoices", "email/events", "web/events"):
        assert rows[qualified] == 0


def test_no_file_has_a_duration_column(converted: bank.ConversionSummary) -> None:
    for path in converted.landing.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".csv":
            names = next(csv.reader([text.splitlines()[0]]))
        else:
            names = [k for line in text.splitlines() if line for k in json.loads(line)]
        assert "duration" not in names, path
        assert not [n for n in names if "duration" in n and n not in entity_columns(path)], path


def entity_columns(path: Path) -> tuple[str, ...]:
    return entity(f"{path.parent.parent.name}/{path.parent.name}").columns


def test_people_calls_and_deals(converted: bank.ConversionSummary) -> None:
    source = pd.read_csv(bank.DEFAULT_CSV, nrows=ROWS)
    contacts = _read(converted, "crm/contacts")
    calls = _read(converted, "crm/activities")
    deals = _read(converted, "crm/deals")

    assert converted.people == len(contacts) == contacts["contact_id"].nunique() == ROWS
    assert converted.won == len(deals) == int((source["y"] == "yes").sum())
    earlier = source["previous"].where(source["pdays"] != -1, 0)
    assert converted.activities == len(calls) == int(source["campaign"].sum() + earlier.sum())
    assert calls["activity_id"].is_unique

    # a contact enters the CRM with its first call, and is delivered that day
    first_call = calls.groupby("contact_id")["occurred_at"].min()
    by_id = contacts.set_index("contact_id")
    assert (by_id["created_at"] == first_call.reindex(by_id.index)).all()
    assert (by_id["updated_at"] == by_id["created_at"]).all()

    # activity ids count each person's calls from the oldest
    calls = calls.sort_values("activity_id")
    assert (
        calls.groupby("contact_id")["occurred_at"].apply(lambda s: s.is_monotonic_increasing)
    ).all()
    assert (calls["updated_at"] == calls["occurred_at"]).all()

    # a won deal closes after the contact's last call
    last_call_day = calls.groupby("contact_id")["occurred_at"].max().str.slice(0, 10)
    assert (deals["close_date"] > deals["contact_id"].map(last_call_day)).all()
    assert (deals["updated_at"].str.slice(0, 10) == deals["close_date"]).all()

    # the custom properties are the file's values, and the catalogue declares them
    assert (by_id.loc["B000001", ["age", "job", "balance"]] == ["58", "management", "2143"]).all()
    catalogue = {(r["entity"], r["property"]): r for r in bank.CATALOGUE_ROWS}
    for prop, _ in bank.CONTACT_PROPERTIES:
        row = catalogue[("contact", prop)]
        if row["type"] == "enum":
            assert set(contacts[prop]) <= set(row["allowed_values"].split("|")), prop
        else:
            assert pd.to_numeric(contacts[prop]).notna().all(), prop
    assert set(calls["campaign_phase"]) <= {"current", "previous"}
    assert {r["kind"] for r in bank.CATALOGUE_ROWS} == {"custom"}


def test_year_derivation(converted: bank.ConversionSummary) -> None:
    assert bank.derive_years(np.array([5, 5, 6, 12, 1, 1, 3, 2])).tolist() == [
        2008,
        2008,
        2008,
        2008,
        2009,
        2009,
        2009,
        2010,
    ]
    frame = bank.read_bank(bank.DEFAULT_CSV)
    assert (frame["last_contact"].iloc[:ROWS].dt.year == 2008).all()
    assert frame["last_contact"].iloc[0] == pd.Timestamp("2008-05-05")
    assert frame["last_contact"].is_monotonic_increasing
    calls = _read(converted, "crm/activities").set_index("activity_id")
    assert calls.loc["A000001-001", "occurred_at"] == "2008-05-05T10:00:01Z"
    companies = _read(converted, "crm/companies")
    assert companies["created_at"].tolist() == [f"{converted.first_day}T00:00:00Z"]
    assert converted.first_day <= date(2008, 5, 5) < converted.last_day


def test_sample_keeps_every_kth_row(tmp_path: Path) -> None:
    summary = bank.convert(bank.DEFAULT_CSV, tmp_path, rows=1000, sample=100)
    assert summary.people == 100
    ids = _read(summary, "crm/contacts")["contact_id"].sort_values().tolist()
    assert ids[:3] == ["B000001", "B000011", "B000021"]
