"""The report's playbook sections (service levels, deals, funnel, hand-over, control group).

They run on a small hand-made serving copy (a few rows per table, written below), so they need
no dbt build: each section's numbers, a note instead of an error when its table or a new column
is missing, escaping of text from the data, and (slow, needs Chromium) the page in a headless
browser.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from leadscore.outputs import report, report_parts, report_playbook
from leadscore.publish import SERVING_FILE
from tests.test_report import Page

DAY = date(2026, 11, 19)
OLDER = DAY - timedelta(days=7)
MARKUP = '<script>alert("x")</script> & <b>bold</b>'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"
ANCHORS = [p.anchor for p in report_playbook.SECTIONS]
HEADINGS = [
    "Service levels",
    "Deal scoring",
    "Funnel",
    "Hand-over within capacity",
    "Control group",
]

# --- a hand-made serving copy ------------------------------------------------------------------

SCHEMA = f"""
create schema marts;
create schema meta;
create table meta.publish_log (published_at timestamptz, score_date date, run_id varchar,
    table_name varchar, row_count bigint);
insert into meta.publish_log values ('{DAY} 03:04:05+00', '{DAY}', 'run-1', 'x', 1);
create table marts.lead_scores (score_date date, contact_id varchar, account_id varchar,
    lifecycle_stage varchar, lead_score double, mql_threshold double, sql_threshold double,
    is_held_out boolean);
create table marts.account_scores (score_date date, account_id varchar, tier varchar,
    is_customer boolean, account_score double, service_level varchar, support_tier varchar,
    csm_coverage varchar, first_response_hours double);
create table marts.score_history (score_date date, entity_type varchar, entity_id varchar,
    account_id varchar, stage varchar, score double, financial_score double,
    score_change_7d double, score_change_30d double);
create table marts.score_signals (score_date date, signal_type varchar, signal varchar,
    entity_type varchar, entity_id varchar, account_id varchar, signal_value double,
    threshold double, previous_value double, reason varchar, owner varchar, queue varchar,
    is_new boolean);
create table marts.model_validation (score_date date, model varchar, band_type varchar,
    band varchar, entities integer, positives integer, rate double, lift double, auc double,
    cutoffs integer, first_cutoff date, last_cutoff date, predicted_rate double,
    rate_ci_low double, rate_ci_high double, median_days_to_outcome double);
create table marts.service_level_coverage (score_date date, service_level varchar, tier varchar,
    support_tier varchar, csm_coverage varchar, first_response_hours double,
    accounts_per_csm integer, customer_accounts integer, annual_contract_value double,
    mean_account_score double, csms_needed integer, contract_value_per_csm double);
create table marts.deal_scores (deal_id varchar, account_id varchar, contact_id varchar,
    score_date date, deal_name varchar, stage varchar, product_line varchar, amount double,
    days_in_stage integer, age_band varchar, win_probability double, expected_value double,
    probability_band varchar, comparable_deals integer, lead_score double, account_score double,
    tier varchar, top_reasons varchar);
create table marts.funnel_kpis (score_date date, lead_month date, breakdown varchar,
    channel varchar, leads bigint, mqls bigint, sqls bigint, opportunities bigint, won bigint,
    won_amount double, lead_to_mql_rate double, mql_to_sql_rate double,
    sql_to_opportunity_rate double, opportunity_to_won_rate double, lead_to_won_rate double,
    median_days_lead_to_mql double, median_days_mql_to_sql double,
    median_days_sql_to_opportunity double, median_days_sales_cycle double,
    median_days_lead_to_won double);
create table marts.lead_handovers (score_date date, contact_id varchar, account_id varchar,
    lead_score double, lifecycle_stage varchar, previous_stage varchar, crossed_on date,
    days_waited integer, status varchar, owner varchar, queue varchar, capacity integer,
    capacity_period varchar, queue_rank integer, is_held_out boolean);
"""

LEADS = [  # contact, account, stage, score, held out
    ("P1", "A1", "customer", 70.0, False),
    ("P2", "A4", "SQL", 88.0, False),
    ("P3", "A4", "SQL", 91.5, False),
    ("P4", "A4", "MQL", 60.0, False),
    ("P5", None, "lead", 20.0, False),
    ("P6", None, "MQL", 55.0, True),
    ("P7", None, "lead", 10.0, True),
]
ACCOUNTS = [  # account, tier, customer, score, level, support, coverage, hours
    ("A1", "Strategic", True, 92.0, "platinum", "premium", "named", 1.0),
    ("A2", "Growth", True, 71.0, "gold", "priority", "named", 4.0),
    ("A3", "Retain", True, 45.0, "silver", "standard", "pooled", 8.0),
    ("A4", "Evaluate", False, 12.0, None, None, None, None),
]
COVERAGE = [  # level, tier, support, coverage, hours, per CSM, accounts, ACV, mean, CSMs, per CSM
    ("platinum", "Strategic", "premium", "named", 1.0, 8, 9, 2_250_000.0, 92.0, 2, 1_125_000.0),
    ("gold", "Growth", "priority", "named", 4.0, 20, 20, 1_000_000.0, 71.0, 1, 1_000_000.0),
    ("silver", "Retain", "standard", "pooled", 8.0, 60, 61, 610_000.0, 45.0, 2, 305_000.0),
    ("bronze", "Evaluate", "standard", "digital", 24.0, None, 0, 0.0, None, None, None),
]
DEALS = [  # id, account, name, stage, line, amount, days, probability, comparable, reasons
    ("D1", "A4", "Expansion", "proposal", "analytics", 50_000.0, 12, 0.5, 40, "stage proposal"),
    ("D2", "A2", MARKUP, "negotiation", "automation", 100_000.0, 40, 0.7, 25, MARKUP),
    ("D3", "A3", "Renewal", "prospecting", "analytics", 20_000.0, 95, 0.05, 60, "stalled 90+"),
    ("D4", "A1", "Pilot", "qualification", "integration", 10_000.0, 5, None, 0, None),
]
FUNNEL = [  # month, breakdown, channel, leads, mqls, sqls, opportunities, won, amount, cycle
    ("2026-09-01", "total", "all", 100, 40, 20, 10, 4, 80_000.0, 30.0),
    ("2026-10-01", "total", "all", 100, 40, 20, 10, 6, 90_000.0, 40.0),
    ("2026-09-01", "lead_source", "webinar", 60, 30, 15, 8, 3, 60_000.0, 30.0),
    ("2026-09-01", "lead_source", "paid_search", 40, 10, 5, 2, 1, 20_000.0, 30.0),
    ("2026-10-01", "lead_source", "webinar", 50, 20, 10, 5, 4, 50_000.0, 40.0),
    ("2026-10-01", "lead_source", "paid_search", 50, 20, 10, 5, 2, 40_000.0, 40.0),
    ("2026-09-01", "campaign", "(none)", 70, 20, 10, 5, 3, 50_000.0, 30.0),
    ("2026-09-01", "campaign", "spring-launch", 30, 20, 10, 5, 1, 30_000.0, 30.0),
    ("2026-10-01", "campaign", "(none)", 50, 20, 10, 5, 3, 50_000.0, 40.0),
    ("2026-10-01", "campaign", MARKUP, 30, 10, 5, 3, 2, 30_000.0, 40.0),
    ("2026-10-01", "campaign", "autumn-webinar", 20, 10, 5, 2, 1, 10_000.0, 40.0),
]
HANDOVERS = [  # contact, score, stage, crossed, waited, status, owner, queue, capacity, period, rk
    ("P2", 88.0, "SQL", DAY, 0, "routed", "ae-na@example.com", "sales-na", 1, "day", 2),
    ("P3", 91.5, "SQL", DAY - timedelta(3), 3, "waiting", None, "sales-na", 1, "day", 1),
    ("P4", 60.0, "MQL", DAY, 0, "overflow", "nurture@example.com", "sdr-inbound", 0, "day", 1),
    ("P6", 55.0, "MQL", DAY, 0, "held_out", None, None, None, None, None),
    ("P5", 20.0, "lead", DAY - timedelta(5), 5, "withdrawn", None, None, None, None, None),
]
CONTROL = [  # band_type, band, entities, positives, rate, low, high, median days
    ("routed", "MQL", 400, 60, 0.15, 0.12, 0.185, 21.0),
    ("held_out", "MQL", 40, 4, 0.10, 0.04, 0.236, 34.0),
    ("difference", "MQL", None, None, 0.05, -0.05, 0.15, None),
    ("routed", "SQL", 200, 50, 0.25, 0.196, 0.313, 14.0),
    ("held_out", "SQL", 20, 2, 0.10, 0.028, 0.301, 30.0),
    ("difference", "SQL", None, None, 0.15, 0.01, 0.29, None),
    ("routed", "all", 600, 110, 0.1833, 0.154, 0.216, 18.0),
    ("held_out", "all", 60, 6, 0.10, 0.046, 0.202, 33.0),
    ("difference", "all", None, None, 0.0833, 0.001, 0.165, None),
]


def build_serving(folder: Path) -> Path:
    """``folder/scores.duckdb``: a published copy with a few rows in every table."""
    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(folder / SERVING_FILE)) as con:
        con.execute(SCHEMA)
        con.executemany(
            "insert into marts.lead_scores values (?, ?, ?, ?, ?, 50, 80, ?)",
            [(DAY, *lead) for lead in LEADS],
        )
        con.executemany(
            "insert into marts.account_scores values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(DAY, *account) for account in ACCOUNTS],
        )
        con.executemany(
            """insert into marts.score_signals values
            (?, ?, ?, ?, ?, ?, null, null, null, ?, ?, ?, ?)""",
            [
                (DAY, "service", "service_level_changed", "account", "A2", "A2", MARKUP,
                 None, None, True),
                (DAY, "handover", "crossed_sql", "contact", "P2", "A4", "SQL at 88",
                 "ae-na@example.com", "sales-na", True),
            ],
        )  # fmt: skip
        con.executemany(
            "insert into marts.service_level_coverage values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(DAY, *level) for level in COVERAGE],
        )
        con.executemany(
            """insert into marts.deal_scores values
            (?, ?, null, ?, ?, ?, ?, ?, ?, null, ?, ? * ?, null, ?, null, null, null, ?)""",
            [(d[0], d[1], DAY, *d[2:8], d[5], d[7], *d[8:]) for d in DEALS],
        )
        con.executemany(
            """insert into marts.funnel_kpis values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
            ? / ?, ? / ?, ? / ?, ? / ?, ? / ?, 10, 12, 8, ?, 70)""",
            [
                (DAY, *f[:9], f[4], f[3], f[5], f[4], f[6], f[5], f[7], f[6], f[7], f[3], f[9])
                for f in FUNNEL
            ],
        )
        con.executemany(
            """insert into marts.lead_handovers values
            (?, ?, null, ?, ?, 'lead', ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [(DAY, *h, h[5] == "held_out") for h in HANDOVERS],
        )
        # routed hand-overs on the 16 score dates before: the report shows the last 14 dates
        con.executemany(
            """insert into marts.lead_handovers values
            (?, ?, null, 70, 'SQL', 'MQL', ?, 0, 'routed', ?, 'sales-na', 1, 'day', 1, false)""",
            [
                (DAY - timedelta(days), f"H{days}", DAY - timedelta(days), owner)
                for days in range(1, 17)
                for owner in (["ae-na@example.com"] + (["ae-2@example.com"] if days % 2 else []))
            ],
        )
        con.executemany(
            """insert into marts.model_validation values
            (?, ?, ?, ?, ?, ?, ?, null, ?, 9, '2025-12-01', '2026-08-01', ?, ?, ?, ?)""",
            [
                (DAY, "deal_win", "all", "all", 500, 150, 0.3, 0.74, None, None, None, None),
                (DAY, "deal_win", "probability", "40-60%", 100, 48, 0.48, None, 0.5, None, None,
                 None),
                (DAY, "deal_win", "probability", "0-20%", 300, 30, 0.1, None, 0.08, None, None,
                 None),
                (DAY, "deal_win", "probability", "60-100%", 100, 72, 0.72, None, 0.75, None,
                 None, None),
                (DAY, "deal_win", "stage", "proposal", 200, 80, 0.4, None, 0.42, None, None, None),
                (DAY, "deal_win", "stage", "prospecting", 300, 70, 0.23, None, 0.2, None, None,
                 None),
                *((DAY, "control_group", *c[:5], None, None, *c[5:]) for c in CONTROL),
                # an older run: the report shows the newest
                (OLDER, "control_group", "difference", "all", None, None, 0.5, None, None, 0.4,
                 0.6, None),
            ],
        )  # fmt: skip
    return folder


@pytest.fixture
def serving(tmp_path) -> Path:
    return build_serving(tmp_path / "serving")


def edit(serving: Path, *statements: str) -> None:
    with duckdb.connect(str(serving / SERVING_FILE)) as con:
        for statement in statements:
            con.execute(statement)


def render(serving: Path, tmp_path: Path, day: date | None = None) -> tuple[Path, Page]:
    path = report.render_report(day, serving_dir=serving, reports_dir=tmp_path / "reports")
    return path, Page(path.read_text(encoding="utf-8"))


def cells(page: Page, anchor: str, index: int) -> list[list[str]]:
    return page.body_rows(anchor, index)


def test_interval_chart_places_dots_and_intervals_on_one_axis():
    items = [
        report_parts.Interval("a", 0.1, -0.1, 0.3),
        report_parts.Interval("<b>", 0.0, None, None, "s1"),
    ]
    svg = report_parts.interval_chart(items, title="t", zero_line=True)
    page = Page(f'<section id="s">{svg}</section>')
    a, b = page.elements("s", 0, "circle", "point")
    [interval] = page.elements("s", 0, "rect", "interval")
    [zero] = page.elements("s", 0, "line", "baseline")
    x0, width = float(interval["x"]), float(interval["width"])
    assert float(a["cx"]) == pytest.approx(x0 + width / 2, abs=0.1)  # 0.1 mid-way in [-0.1, 0.3]
    assert float(b["cx"]) == pytest.approx(float(zero["x1"]), abs=0.1) == x0 + width / 4
    assert "&lt;b&gt;" in svg and "<b>" not in svg
    # all zero: still an axis with two ticks, no division by zero
    flat = report_parts.interval_chart([report_parts.Interval("z", 0.0, 0.0, 0.0)], title="f")
    assert len(Page(f'<section id="s">{flat}</section>').elements("s", 0, "line", "grid")) == 2


# --- the sections with their tables ------------------------------------------------------------


def test_sections_come_after_validation_in_the_page_and_its_contents(serving, tmp_path):
    path, page = render(serving, tmp_path)
    order = re.findall(r'<section id="([^"]+)"', path.read_text(encoding="utf-8"))
    assert order == [
        "overview",
        "distributions",
        "tiers",
        "validation",
        *ANCHORS,
        "movers",
        "signals",
    ]
    nav = [a["href"][1:] for a in page.attrs if a.get("href", "").startswith("#")]
    assert nav == order
    for anchor, heading in zip(ANCHORS, HEADINGS, strict=True):
        assert page.section_text(anchor).startswith(heading)


def test_service_levels(serving, tmp_path):
    _, page = render(serving, tmp_path)
    assert page.counts["service:accounts"] == "90"
    assert page.counts["service:csms_needed"] == "5"
    assert page.counts["service:changes"] == "1"
    levels, changes = page.tables["service-levels"]
    assert [r[0] for r in levels[1:]] == ["platinum", "gold", "silver", "bronze"]
    assert levels[1] == [
        "platinum", "Strategic", "premium", "named", "1 h", "8", "9", "2,250,000", "92.0", "2",
        "1,125,000",
    ]  # fmt: skip
    assert levels[4][-2:] == ["–", "–"]  # a digital level has no CSM book
    accounts = page.elements("service-levels", 0, "rect", "bar customer")
    assert [b["title"] for b in accounts] == [
        "platinum: 9", "gold: 20", "silver: 61", "bronze: 0"
    ]  # fmt: skip
    per_csm = page.elements("service-levels", 1, "rect", "bar")
    assert len(per_csm) == 3  # bronze has no CSMs
    assert changes[1] == ["new", "service_level_changed", "A2", MARKUP]
    assert "Service-level changes (1, 1 new)" in page.section_text("service-levels")


def test_the_service_signal_type_is_listed_with_its_colour(serving, tmp_path):
    path, page = render(serving, tmp_path)
    assert report.SIGNAL_TYPE_ORDER[-1] == "service"
    kinds = [r[1] for t in page.tables["signals"] for r in t[1:]]
    assert kinds == ["crossed_sql", "service_level_changed"]  # handovers first
    assert 'class="type-service"' in path.read_text(encoding="utf-8")
    assert page.elements("signals", 0, "rect", "bar service")


def test_deal_scoring(serving, tmp_path):
    _, page = render(serving, tmp_path)
    assert page.counts["deals:open"] == "4"
    assert float(page.counts["deals:amount"]) == 180_000
    assert float(page.counts["deals:expected_value"]) == pytest.approx(25_000 + 70_000 + 1_000)
    stages, top, bands, per_stage = page.tables["deals"]
    assert [r[0] for r in stages[1:]] == ["prospecting", "qualification", "proposal", "negotiation"]
    assert stages[4] == ["negotiation", "1", "100,000", "70,000", "70.0%"]
    pipeline = page.elements("deals", 0, "rect", "bar")
    assert len(pipeline) == 8  # amount and expected value per stage
    # top deals by expected value, the one without a probability last
    assert [r[0].rsplit("(", 1)[1] for r in top[1:]] == ["D2)", "D1)", "D3)", "D4)"]
    assert top[1][-1] == MARKUP and top[3][-1] == "stalled 90+"
    assert top[4][6:8] == ["–", "–"]
    # calibration: bands low to high, predicted next to observed, the AUC
    assert page.counts["auc:deal_win"] == "0.740"
    assert [r[0] for r in bands[1:]] == ["0-20%", "40-60%", "60-100%"]
    assert bands[1] == ["0-20%", "300", "30", "8.0%", "10.0%"]
    predicted = page.elements("deals", 1, "rect", "bar s1")
    observed = page.elements("deals", 1, "rect", "bar s0")
    assert [b["title"] for b in predicted] == [
        "0-20%, predicted: 8.0%", "40-60%, predicted: 50.0%", "60-100%, predicted: 75.0%"
    ]  # fmt: skip
    assert len(observed) == 3
    assert [r[0] for r in per_stage[1:]] == ["prospecting", "proposal"]


def test_funnel(serving, tmp_path):
    _, page = render(serving, tmp_path)
    assert page.counts["funnel:leads"] == "200"
    assert page.counts["funnel:won"] == "10"
    assert page.counts["funnel:lead_to_won"] == "5.0%"
    assert page.counts["funnel:sales_cycle"] == "36.0 d"  # (30 × 4 + 40 × 6) / 10
    bars = page.elements("funnel", 0, "rect", "bar")
    assert [b["title"] for b in bars] == [
        "leads: 200", "MQL: 80", "SQL: 40", "opportunity: 20", "won: 10"
    ]  # fmt: skip
    text = page.section_text("funnel")
    assert "80 (40.0%)" in text and "10 (50.0%)" in text
    assert "Leads created from 2026-09 to 2026-10" in text
    steps, sources, campaigns = page.tables["funnel"]
    assert steps[1] == ["lead → MQL", "40.0%", "10.0 d"]
    assert steps[-1] == ["lead → won", "5.0%", "70.0 d"]
    assert sources[1] == ["webinar", "110", "50", "25", "13", "7", "110,000", "6.4%", "35.7 d"]
    assert [r[0] for r in sources[1:]] == ["webinar", "paid_search"]
    # won first, then lead → won; leads without a campaign left out
    assert [r[0] for r in campaigns[1:]] == [MARKUP, "autumn-webinar", "spring-launch"]


def test_handovers(serving, tmp_path):
    _, page = render(serving, tmp_path)
    assert page.counts["handover:routed"] == "1"
    assert page.counts["handover:waiting"] == "1"
    assert page.counts["handover:held_out"] == "1"
    assert page.counts["handover:withdrawn"] == "1"
    queues, waiting, owners = page.tables["handovers"]
    assert queues[0] == ["queue", "capacity", "routed", "released", "overflow", "waiting"]
    assert queues[1:] == [
        ["sales-na", "1 per day", "1", "0", "0", "1"],
        ["sdr-inbound", "0 per day", "0", "0", "1", "0"],
    ]
    assert waiting[1] == ["P3", "–", "sales-na", "SQL", "91.5", "1", "2026-11-16", "3"]
    assert "Waiting list (1; the 1 highest lead scores)" in page.section_text("handovers")
    # the last 14 score dates, per owner: today's two and 13 of the 16 dates before
    assert owners[0] == [
        "owner",
        *(f"{DAY - timedelta(d):%m-%d}" for d in range(13, -1, -1)),
        "total",
    ]
    by_owner = {r[0]: r for r in owners[1:]}
    assert by_owner["ae-na@example.com"][-1] == "14"
    assert by_owner["ae-2@example.com"][-1] == "7"  # odd days back among 1..13
    assert by_owner["nurture@example.com"][1:] == [""] * 13 + ["1", "1"]
    # routed and overflow per date (nobody was released: no bars for it)
    assert len(page.elements("handovers", 0, "rect", "bar s0")) == 14
    assert [b["title"] for b in page.elements("handovers", 0, "rect", "bar s1")][-1] == (
        "11-19, overflow: 1"
    )
    assert not page.elements("handovers", 0, "rect", "bar s2")


def test_control_group(serving, tmp_path):
    _, page = render(serving, tmp_path)
    assert page.counts["control:held_out"] == "2"
    [rows] = page.tables["control-group"]
    assert [r[0] for r in rows[1:]] == ["MQL", "SQL", "all"]
    assert rows[2] == [
        "SQL", "200", "50", "25.0% [19.6%, 31.3%]", "20", "2", "10.0% [2.8%, 30.1%]",
        "+15.0 pp [+1.0 pp, +29.0 pp]", "14.0 d / 30.0 d",
    ]  # fmt: skip
    assert "+8.3 pp [+0.1 pp, +16.5 pp]" in rows[3]  # the newest run, not the older one
    rates, differences = page.svgs["control-group"]
    assert len([e for e in rates if e["tag"] == "circle"]) == 6
    assert len([e for e in differences if e["tag"] == "circle"]) == 3
    assert len(page.elements("control-group", 1, "line", "baseline")) == 1  # the zero line
    intervals = page.elements("control-group", 1, "rect", "interval")
    assert intervals[0]["title"] == "MQL: +5.0 pp [-5.0 pp, +15.0 pp]"


def test_text_from_the_data_is_escaped(serving, tmp_path):
    path, page = render(serving, tmp_path)
    raw = path.read_text(encoding="utf-8")
    assert page.tags["script"] == 0 and "<b>bold" not in raw
    for anchor in ("service-levels", "deals", "funnel"):
        assert ESCAPED in raw.split(f'<section id="{anchor}">')[1].split("</section>")[0]


# --- degrading to a note -----------------------------------------------------------------------

MISSING = [  # table, section, its note, the charts left in the section
    ("service_level_coverage", "service-levels", "no marts.service_level_coverage in this", 1),
    ("deal_scores", "deals", "No marts.deal_scores in this publish", 1),
    ("funnel_kpis", "funnel", "No marts.funnel_kpis in this publish", 0),
    ("lead_handovers", "handovers", "No marts.lead_handovers in this publish", 0),
    ("model_validation", "control-group", "2 leads are held out on 2026-11-19, but", 0),
]


@pytest.mark.parametrize(
    ("table_name", "anchor", "text", "charts"), MISSING, ids=[m[0] for m in MISSING]
)
def test_a_missing_table_gives_a_note(serving, tmp_path, table_name, anchor, text, charts):
    edit(serving, f"drop table marts.{table_name}")
    _, page = render(serving, tmp_path)
    assert text in page.section_text(anchor)
    assert len(page.svgs[anchor]) == charts
    if table_name == "service_level_coverage":  # counted from account_scores instead
        assert page.counts["service:accounts"] == "3"
        assert page.counts["service:csms_needed"] == "–"
        assert page.tables["service-levels"][0][1][:2] == ["platinum", "Strategic"]
    elif table_name == "deal_scores":  # the calibration is still there
        assert page.counts["auc:deal_win"] == "0.740"
    elif table_name == "model_validation":
        assert "No marts.model_validation in this publish" in page.section_text("deals")


def test_a_table_of_another_shape_gives_a_note_and_the_rest_is_drawn(serving, tmp_path):
    edit(serving, "alter table marts.funnel_kpis rename column leads to lead_count")
    _, page = render(serving, tmp_path)
    text = page.section_text("funnel")
    assert text.startswith("Funnel This section could not be drawn from this publish")
    assert '"leads"' in text
    assert page.tables["control-group"] and page.tables["handovers"]


def test_an_older_publish_without_the_new_columns(serving, tmp_path):
    edit(
        serving,
        "drop table marts.service_level_coverage",
        "drop table marts.funnel_kpis",
        *(
            f"alter table marts.account_scores drop column {c}"
            for c in ("service_level", "support_tier", "csm_coverage", "first_response_hours")
        ),
        "alter table marts.lead_scores drop column is_held_out",
        "delete from marts.model_validation where model = 'control_group'",
        *(
            f"alter table marts.model_validation drop column {c}"
            for c in ("predicted_rate", "rate_ci_low", "rate_ci_high", "median_days_to_outcome")
        ),
    )
    _, page = render(serving, tmp_path)
    assert "No service levels in this publish" in page.section_text("service-levels")
    assert "service_levels seed" in page.section_text("service-levels")
    assert "has no predicted_rate" in page.section_text("deals")
    assert "observed rates only" in page.section_text("deals")
    assert page.tables["deals"][2][1] == ["0-20%", "300", "30", "–", "10.0%"]
    control = page.section_text("control-group")
    assert "The control group is off (this publish has no lead_scores.is_held_out)" in control
    assert "control_group_share" in control


def test_a_control_group_that_is_off_and_a_company_without_deals(serving, tmp_path):
    edit(
        serving,
        "update marts.lead_scores set is_held_out = false",
        "delete from marts.model_validation",
        "delete from marts.deal_scores",
        "delete from marts.lead_handovers",
    )
    _, page = render(serving, tmp_path)
    control = page.section_text("control-group")
    assert "The control group is off: no lead is held out" in control
    assert "Set the dbt var control_group_share" in control
    deals = page.section_text("deals")
    assert "marts.deal_scores has no rows for 2026-11-19" in deals
    assert "No marts.model_validation rows of model deal_win yet" in deals
    handovers = page.section_text("handovers")
    assert "No rows in marts.lead_handovers for 2026-11-19" in handovers
    assert "No hand-overs in the last 14 score dates" in handovers


def test_open_deals_without_win_probabilities_yet(serving, tmp_path):
    edit(serving, "update marts.deal_scores set win_probability = null, expected_value = null")
    _, page = render(serving, tmp_path)
    assert page.counts["deals:open"] == "4" and page.counts["deals:expected_value"] == "–"
    assert "No win probabilities yet" in page.section_text("deals")
    assert "deal_min_closed_deals" in page.section_text("deals")


def test_a_control_group_in_its_first_weeks_gives_no_interval_yet(serving, tmp_path):
    edit(serving, "delete from marts.model_validation where model = 'control_group'")
    _, page = render(serving, tmp_path)
    assert page.counts["control:held_out"] == "2"
    assert "no control_group rows yet" in page.section_text("control-group")


def test_a_report_of_an_older_date(serving, tmp_path):
    edit(
        serving,
        f"""insert into marts.score_history values
            ('{OLDER}', 'contact', 'P2', 'A4', 'MQL', 60, null, null, null),
            ('{OLDER}', 'account', 'A1', 'A1', 'Strategic', 90, 80, null, null)""",
    )
    _, page = render(serving, tmp_path, OLDER)
    assert "holds the current publish (2026-11-19) only" in page.section_text("service-levels")
    assert "holds the current publish (2026-11-19) only" in page.section_text("deals")
    assert "funnel_kpis holds the current publish" in page.section_text("funnel")
    # hand-overs and validation are kept per date
    assert page.tables["handovers"][-1][1][0] == "ae-2@example.com"
    [older] = page.body_rows("control-group", 0)
    assert older[0] == "all" and older[-2] == "+50.0 pp [+40.0 pp, +60.0 pp]"
    assert "control:held_out" not in page.counts  # lead_scores holds the current date only


# --- in a headless browser ---------------------------------------------------------------------


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("no chromium on PATH: `make browser` installs it (apt-get, needs root)")
    return found


def png_size_and_colours(data: bytes) -> tuple[int, int, int]:
    """Width, height and the distinct byte values of the compressed pixel rows of a PNG.

    A blank page (one colour) leaves a handful of byte values whatever filter the encoder
    chose per row; a page with text and charts leaves hundreds.
    """
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        if data[at + 4 : at + 8] == b"IDAT":
            chunks.append(data[at + 8 : at + 8 + length])
        at += 12 + length
    return width, height, len(set(zlib.decompress(b"".join(chunks))))


@pytest.mark.slow
def test_the_page_in_a_headless_browser(serving, tmp_path):
    binary = chromium()
    path, _ = render(serving, tmp_path)
    flags = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    flags += [f"--user-data-dir={tmp_path / 'profile'}"]  # no shared profile, no lock
    dom = subprocess.run(
        [*flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = Page(dom.stdout)
    for anchor, heading in zip(ANCHORS, HEADINGS, strict=True):
        assert page.section_text(anchor).startswith(heading), f"{anchor} not in the DOM"
    headings = re.findall(r"<h2>([^<]+)</h2>", path.read_text(encoding="utf-8"))
    assert len(headings) == 11 and re.findall(r"<h2>([^<]+)</h2>", dom.stdout) == headings
    assert len(page.svgs["control-group"]) == 2

    shot = tmp_path / "report.png"
    run = subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1280,4000", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    width, height, colours = png_size_and_colours(shot.read_bytes())
    assert (width, height) == (1280, 4000)
    assert colours > 50, f"the screenshot looks blank ({colours} distinct byte values)"
