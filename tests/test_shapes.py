"""Every shape of company runs and publishes: leads only, email only (no web tracker), web only.

A company's shape is the list of sources and entities it delivers (expectations/sources.yml,
LEADSCORE_SOURCES_CONFIG). Each shape here is the small world (tests/conftest.py) as that company
would have it: the entities its shape leaves out have no landing folder and no raw rows, and
nothing was published yet. The run for 2026-11-19 builds every model from raw (dbt
--full-refresh, as a first run would) and publishes. For leads only, whose financial scores are
empty, the run for 2026-11-20 follows: an ordinary incremental day whose score gate compares with
that publish (each run costs about half a minute, so the other shapes stop after the first).
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import pytest
import yaml

from leadscore import sources
from leadscore.publish import last_publish
from leadscore.sources import ENTITIES
from tests.conftest import ROOT, World

DAY = date(2026, 11, 19)
CRM_LEADS = ["companies", "contacts", "deals", "activities"]
#: shape -> the sources.yml `sources:` of that company
SHAPES: dict[str, dict[str, list[str]]] = {
    # a young B2B company: leads, deals and sales activities, no paying customer yet
    "leads_only": {"crm": CRM_LEADS, "email": ["campaigns", "events"], "web": ["events"]},
    # customers and an email platform, no web tracker
    "email_only": {
        "crm": [e.name for e in sources.entities_of("crm")],
        "email": ["campaigns", "events"],
    },
    # contacts and companies in the CRM and a web tracker, nothing else
    "web_only": {"crm": ["companies", "contacts"], "web": ["events"]},
}
#: Shapes that also run the next day, incrementally, against their first publish.
TWO_DAYS = {"leads_only"}


# --- the shape configuration (fast) ----------------------------------------------------------


def test_the_committed_shape_lists_every_entity():
    shape = sources.load_shape(ROOT / "expectations" / "sources.yml")
    assert shape.delivered == sources.FULL_SHAPE.delivered
    assert shape.absent() == ()


def test_a_shape_reads_sources_and_entities_and_leaves_out_the_rest(tmp_path):
    path = tmp_path / "sources.yml"
    path.write_text(yaml.safe_dump({"sources": SHAPES["web_only"]}))
    shape = sources.load_shape(path)
    assert shape.has("web/events") and shape.has(sources.entity("crm/contacts"))
    assert not shape.has("email/events") and not shape.has("crm/deals")
    assert shape.describe().startswith("crm (companies, contacts); web (events); absent: crm/")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            "sources:\n  crm: [companies, contacts]\n  mailchimp: [events]\n",
            "unknown source 'mailchimp'",
        ),
        (
            "sources:\n  crm: [companies, contacts, orders]\n",
            "sources.crm: unknown entity 'orders'",
        ),
        ("sources:\n  crm: [companies]\n  web: [events]\n", "crm/contacts must be listed"),
        ("sources:\n  crm: companies\n", "sources.crm must be a list"),
        ("crm: [companies, contacts]\n", "needs a mapping `sources:`"),
        ("sources:\n  crm: [companies, contacts\n", "not valid YAML"),
    ],
)
def test_a_mistake_in_the_shape_names_the_file_and_the_key(tmp_path, text, error):
    path = tmp_path / "sources.yml"
    path.write_text(text)
    with pytest.raises(ValueError) as failed:
        sources.load_shape(path)
    assert str(failed.value).startswith(f"{path}: ") and error in str(failed.value), failed.value


# --- every shape runs and publishes (slow) ------------------------------------------------------


@dataclass
class ShapeRun:
    name: str
    world: World
    absent: set[str]
    reports: dict[date, dict]  # score date -> run details


def _remove_absent(world: World, absent: set[str]) -> None:
    """The world as a company without ``absent`` would have it: no folders, no raw rows."""
    for qualified in absent:
        shutil.rmtree(world.landing / qualified)
    with duckdb.connect(str(world.warehouse)) as con:
        for e in ENTITIES:
            if e.qualified in absent:
                con.execute(f"delete from {e.raw_table}")
                con.execute(f"delete from {e.quarantine_table}")
                con.execute(
                    "delete from raw.load_log where source = $s and entity = $e",
                    {"s": e.source, "e": e.name},
                )
    shutil.rmtree(world.serving)  # nothing published yet


@pytest.fixture(scope="module", params=list(SHAPES))
def shape_run(request, small_world, in_process_dbt, tmp_path_factory) -> ShapeRun:
    from leadscore.pipeline import run_interval

    name = request.param
    world = small_world.copy(tmp_path_factory.mktemp(name) / "world")
    config = world.root / "sources.yml"
    config.write_text(yaml.safe_dump({"sources": SHAPES[name]}))
    shape = sources.load_shape(config)
    absent = {e.qualified for e in shape.absent()}
    _remove_absent(world, absent)

    def first_build(score_date: date) -> None:
        in_process_dbt(score_date, "build", "--full-refresh")

    runs = [(DAY, first_build)]
    if name in TWO_DAYS:
        runs.append((DAY + timedelta(days=1), in_process_dbt))
    reports = {}
    with pytest.MonkeyPatch.context() as mp:
        world.activate(mp)
        mp.setenv("LEADSCORE_SOURCES_CONFIG", str(config))
        for day, dbt in runs:
            reports[day] = run_interval(day, day + timedelta(days=1), dbt=dbt).details
    return ShapeRun(name, world, absent, reports)


def _serving(run: ShapeRun, sql: str) -> list[tuple]:
    with duckdb.connect(str(run.world.serving / "scores.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.slow
def test_each_shape_runs_and_publishes(shape_run: ShapeRun):
    published = last_publish(shape_run.world.serving)
    assert published is not None and published["score_date"] == max(shape_run.reports)
    for day, details in shape_run.reports.items():
        assert not details["publish"].skipped, f"{shape_run.name}: {day} was not published"
        raw = details["raw_gate"]
        checked = {t.removeprefix("raw.").replace("__", "/", 1) for t in raw.tables}
        # absent by design: neither required nor checked nor stale
        assert checked == {e.qualified for e in ENTITIES} - shape_run.absent, raw.tables
        absent_sources = {
            s
            for s in sources.SOURCES
            if all(e.qualified in shape_run.absent for e in sources.entities_of(s))
        }
        stale = [w for w in raw.warnings if w.startswith("source ") and "stale" in w]
        assert not [w for w in stale if w.split()[1] in absent_sources], stale
    assert _serving(shape_run, "select count(*) from marts.lead_scores")[0][0] > 0
    accounts = _serving(shape_run, "select count(*), count(tier) from marts.account_scores")
    assert accounts[0][0] > 0 and accounts[0][0] == accounts[0][1], "every account has a tier"


@pytest.mark.slow
def test_without_customers_every_account_is_a_prospect(shape_run: ShapeRun):
    no_customers = "crm/subscriptions" in shape_run.absent
    financial = _serving(shape_run, "select count(*) from marts.financial_scores")[0][0]
    scored = _serving(
        shape_run,
        "select count(*) filter (where is_customer), count(financial_score) "
        "from marts.account_scores",
    )[0]
    stages = {
        r[0] for r in _serving(shape_run, "select distinct lifecycle_stage from marts.lead_scores")
    }
    if no_customers:
        assert financial == 0 and scored == (0, 0), (financial, scored)
        assert "customer" not in stages, stages
    else:
        assert financial > 0 and scored[0] > 0, (financial, scored)


def _engagement_rule_sources() -> dict[str, str]:
    """Engagement rule -> the source its events come from (seeds/engagement_points.csv)."""
    with (ROOT / "dbt_project" / "seeds" / "engagement_points.csv").open(newline="") as fh:
        return {row["rule"]: row["source"] for row in csv.DictReader(fh)}


@pytest.mark.slow
def test_engagement_comes_from_the_sources_the_company_has(shape_run: ShapeRun):
    # the committed engagement_points.csv scores email and web events (no CRM activity rules)
    events = {"email": "email/events", "web": "web/events"}
    expected = {s for s, q in events.items() if q not in shape_run.absent}
    rule_source = _engagement_rule_sources()
    fired = _serving(
        shape_run,
        "select distinct rule from marts.score_explanations where score_name = 'engagement'",
    )
    assert {rule_source[r] for (r,) in fired if r in rule_source} == expected, fired
