"""The demo generator: deterministic, documented layout, realistic rates, a learnable signal."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from leadscore.generate import ACTIVITY_TYPES, CUSTOM_PROPERTIES, FREE_MAIL, LEAD_ORIGINS, generate
from leadscore.sources import ENTITIES

END = date(2026, 3, 31)
DAYS = 45


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
