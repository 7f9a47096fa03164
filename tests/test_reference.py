"""The hand-written reference query (leadscore.reference) agrees with the dbt path on every
contact's engagement score: on the small world as the pipeline built it, and on a copy where
every kind of engagement rule, segments, deleted contacts and re-delivered event versions are
in play (so the reference cannot agree by only knowing the default rules)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from leadscore import config, reference
from leadscore.pipeline import DbtSession
from tests.conftest import BASELINE_DAY, World, copy_project

pytestmark = pytest.mark.slow

SCORE_DATE = BASELINE_DAY  # the small world is built and published for it

#: One rule of each kind and operator (docs/rules.md), a segment override and a segment-only rule.
RULES = [
    # count rule, half-life decay from the newest counted view
    "default,repeat_pricing,pricing_page_view,web,decision,10,15,half_life,14,,,,,2,60,,,count",
    # filters: contains, =, in (with window decay), matches, between (number property),
    # is_unknown, is_known
    "default,integration_guides,page_view,web,consideration,4,20,half_life,,,page_url,contains,"
    "/blog/integration-guides,,,,,contains",
    "default,meeting_minutes,meeting,crm,decision,1,40,half_life,30,,outcome,=,completed,,,"
    "duration_seconds,60,per unit of a measure",
    "default,no_show,meeting,crm,decision,-10,20,none,,,outcome,=,no_show,,,,,negative",
    "default,topic_clicks,click,email,consideration,3,12,window,,60,topic,in,pricing|webinars,,,,,in",
    "default,howto_views,page_view,web,awareness,1,10,half_life,,,page_url,matches,"
    "/blog/(automation|data)-,,,,,matches",
    "default,long_sessions,page_view,web,consideration,2,10,half_life,,,property.session_pages,"
    "between,3..,,,,,between on a number property",
    "default,no_product_line,page_view,web,awareness,1,5,none,,,product_line,is_unknown,,,,,,unknown",
    "default,answered_calls,call,crm,awareness,1,5,none,,,outcome,is_known,,,,,,known",
    # segment executives: its own open rule replaces the default one; exec_meetings only for it
    "executives,open,open,email,awareness,8,30,half_life,30,,,,,,,,,segment override",
    "executives,exec_meetings,meeting,crm,decision,5,25,half_life,,,,,,,,,,segment only",
]
SEGMENT_RULES = [
    "1,seniority,c_level,executives,C-level contacts",
    "2,lead_source,partner,partners,Partner leads (default rules only)",
]
CATALOGUE = ["web_event,session_pages,number,,custom,Pages viewed in the session"]
DELETED_PROPERTY = config.dbt_vars()["deleted_property"]
#: Contacts marked deleted in the CRM, events given a newer version (open -> click).
DELETED_CONTACTS = 5
NEWER_VERSIONS = 50
#: What the modified world rebuilds: staging of the changed events, the engagement chain and the
#: contacts' segments (--full-refresh: the incremental models read the changed rows again).
REBUILT = (
    "stg_email__events stg_web__events int_engagement_events int_engagement_daily "
    "int_contacts_enriched int_engagement_rules int_engagement_filtered_daily "
    "int_engagement_contact_daily int_engagement_rule_hits int_contact_engagement"
)


def _scores(warehouse: Path):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        scores = reference.engagement_scores(con, SCORE_DATE)
        return scores, reference.agreement(con, scores, SCORE_DATE)


def _append(path: Path, rows: list[str]) -> None:
    text = path.read_text()
    path.write_text(text + ("" if text.endswith("\n") else "\n") + "\n".join(rows) + "\n")


def test_the_reference_agrees_with_dbt_on_every_contact(small_world: World):
    scores, agreement = _scores(small_world.warehouse)

    assert agreement.agrees, agreement.describe()
    assert agreement.contacts == len(scores) > 0
    assert (scores.engagement_score > 0).sum() > len(scores) / 4, "too few engaged contacts"


@dataclass
class RuledWorld:
    warehouse: Path
    deleted: list[str]  # contacts marked deleted
    versioned: list[str]  # email events given a newer version


@pytest.fixture(scope="module")
def ruled_world(small_world: World, tmp_path_factory) -> RuledWorld:
    """A copy of the small world rebuilt with RULES, SEGMENT_RULES and CATALOGUE, some contacts
    deleted, web events with a session_pages property and newer versions of some email events."""
    root = tmp_path_factory.mktemp("reference-rules")
    project = copy_project(root / "dbt_project")
    _append(project / "seeds" / "engagement_points.csv", RULES)
    _append(project / "seeds" / "segment_rules.csv", SEGMENT_RULES)
    _append(project / "seeds" / "property_catalogue.csv", CATALOGUE)
    warehouse = root / "warehouse.duckdb"  # the file name is the dbt database name
    shutil.copyfile(small_world.warehouse, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            """update raw.web__events
            set _properties = json_object('session_pages', cast(hash(event_id) % 6 as varchar))
            where event_type = 'page_view'"""
        )
        deleted = [
            r[0]
            for r in con.execute(
                f"""select distinct contact_id from raw.crm__contacts
                where lower(trim(email)) in (select lower(trim(email)) from raw.email__events)
                order by contact_id limit {DELETED_CONTACTS}"""
            ).fetchall()
        ]
        con.execute(
            """update raw.crm__contacts
            set _properties = json_merge_patch(coalesce(_properties, '{}'), $deleted)
            where list_contains($ids, contact_id)""",
            {
                "ids": deleted,
                "deleted": json.dumps({config.dbt_vars()["deleted_property"]: "true"}),
            },
        )
        versioned = [
            r[0]
            for r in con.execute(
                f"""select distinct event_id from raw.email__events where event_type = 'open'
                order by event_id limit {NEWER_VERSIONS}"""
            ).fetchall()
        ]
        con.execute(
            """insert into raw.email__events
            select * replace ('click' as event_type, _row_number + 1000000 as _row_number)
            from raw.email__events where list_contains($ids, event_id)""",
            {"ids": versioned},
        )
    session = DbtSession(project=project, target=root / "target")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEADSCORE_WAREHOUSE", str(warehouse))
        session(SCORE_DATE, "seed")
        session(SCORE_DATE, "run", "--full-refresh", "--select", *REBUILT.split())
    return RuledWorld(warehouse, deleted, versioned)


def test_the_reference_agrees_on_every_rule_kind_segment_and_version(ruled_world: RuledWorld):
    scores, agreement = _scores(ruled_world.warehouse)

    assert agreement.agrees, agreement.describe()
    # not vacuous: every added rule fired, the segments, deletions and new versions took effect
    with duckdb.connect(str(ruled_world.warehouse), read_only=True) as con:
        fired = {
            r[0]
            for r in con.sql(
                "select distinct rule from intermediate.int_engagement_rule_hits"
            ).fetchall()
        }
        segments = dict(
            con.sql(
                "select segment, count(*) from intermediate.int_contacts_enriched group by 1"
            ).fetchall()
        )
        versions = con.execute(
            """select event_type, count(*) from staging.stg_email__events
            where list_contains($ids, event_id) group by 1""",
            {"ids": ruled_world.versioned},
        ).fetchall()
    added = {row.split(",")[1] for row in RULES}
    assert added <= fired, f"rules that never fired: {sorted(added - fired)}"
    assert segments.get("executives", 0) > 0 and segments.get("partners", 0) > 0, segments
    assert versions == [("click", NEWER_VERSIONS)]
    assert len(ruled_world.deleted) == DELETED_CONTACTS
    assert not set(ruled_world.deleted) & set(scores.contact_id)
    assert len(scores) == sum(segments.values())
