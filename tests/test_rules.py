"""The rule language of the points tables: operators, engagement filters, counts, per-unit rules.

The small world is rebuilt for its score date with rows appended to the points seeds of a copied
dbt project (one in-process dbt session parsed once; each build writes a copy of the world's
warehouse). What the new rules score is compared with an independent computation from the staging
tables, and everything the rules do not match must stay as the small world scored it. Bad rule rows
must stop the build with a message that names the seed file, the row and the problem.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from leadscore.pipeline import DbtSession, StepFailed
from tests.conftest import BASELINE_DAY, copy_project

pytestmark = pytest.mark.slow

SCORE_DATE = BASELINE_DAY
FIT_SEED = "fit_points.csv"
ENGAGEMENT_SEED = "engagement_points.csv"
LOOKBACK_DAYS = 365  # var engagement_lookback_days
STAGE_WEIGHT = {"awareness": 1.0, "consideration": 1.25, "decision": 1.5}  # funnel_stage_weights

#: Test 1: one property rule (contact.lead_origin is an enum custom property of the demo CRM).
LEAD_ORIGIN_RULE = {
    "segment": "default",
    "attribute": "contact.lead_origin",
    "operator": "in",
    "value": "lead_add_form|chat",
    "contact_points": "7",
    "account_points": "",
    "description": "Lead came in through a lead ad form or a chat",
}


def _fit_rule(attribute, operator, value, contact_points, account_points=""):
    return {
        "segment": "default",
        "attribute": attribute,
        "operator": operator,
        "value": value,
        "contact_points": str(contact_points),
        "account_points": str(account_points),
        "description": f"test: {attribute} {operator} {value}".strip(),
    }


def _engagement_rule(rule, action, source, funnel_stage, points, max_points, **extra):
    return {
        "segment": "default",
        "rule": rule,
        "action": action,
        "source": source,
        "funnel_stage": funnel_stage,
        "points": str(points),
        "max_points": str(max_points),
        "decay": "none",
        "description": f"test rule {rule}",
        **{key: str(value) for key, value in extra.items()},
    }


#: Test 3: engagement rules of every kind, each checked against a hand computation below.
ENGAGEMENT_RULES = [
    # per event, only page views whose URL contains /pricing (the blog's pricing topic), halved
    # every 30 days
    _engagement_rule(
        "pricing_posts",
        "page_view",
        "web",
        "awareness",
        3,
        15,
        decay="half_life",
        half_life_days=30,
        filter_attribute="page_url",
        filter_operator="contains",
        filter_value="/pricing",
    ),
    # 1 point per minute on a page
    _engagement_rule(
        "page_minutes",
        "page_view",
        "web",
        "awareness",
        1,
        20,
        measure="duration_seconds",
        measure_unit=60,
    ),
    # once, for at least 3 calls within 90 days (at this scale a single contact has that) ...
    _engagement_rule(
        "three_calls", "call", "crm", "consideration", 8, 10, min_count=3, count_window_days=90
    ),
    # ... and for at least 2, decayed by the age of the newest call (some contacts have 2 calls,
    # but not within the 90 days)
    _engagement_rule(
        "two_calls",
        "call",
        "crm",
        "consideration",
        12,
        20,
        decay="half_life",
        half_life_days=30,
        min_count=2,
        count_window_days=90,
    ),
    # CRM meetings that took place
    _engagement_rule(
        "completed_meetings",
        "meeting",
        "crm",
        "decision",
        10,
        45,
        filter_attribute="outcome",
        filter_value="completed",
    ),
    # negative, and capped at -max_points
    _engagement_rule("sms", "sms", "crm", "awareness", -12, 10),
]
NEW_ENGAGEMENT = [r["rule"] for r in ENGAGEMENT_RULES]

#: Rules no entity of the small world matches.
MATCHES_NOBODY: set[str] = set()
#: Test 2: one rule per operator (the values of the two "exact ends" rules come from the data).
OPERATOR_RULES = [
    "annual_revenue_between",
    "employees_between_exact_ends",
    "created_up_to",
    "funding_stage_equals",
    "employees_equals",
    "budget_between_one_value",
    "budget_equals_crm_text",
    "budget_equals_number",
    "created_on_day",
    "budget_unknown",
    "budget_open_between",
    "lead_source_known",
    "industry_contains",
    "domain_matches",
    "seniority_unknown",
]


# -- helpers ---------------------------------------------------------------------------------


def _query(warehouse: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


def _write_seed(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _properties(frame: pd.DataFrame, name: str) -> pd.Series:
    """One custom property out of staging's _properties JSON (None when absent or null)."""
    values = frame["_properties"].map(lambda p: json.loads(p) if isinstance(p, str) else {})
    return values.map(lambda v: v.get(name))


def _is_unknown(value) -> bool:
    return value is None or pd.isna(value) or str(value).strip().lower() in ("", "unknown")


class RuleProject:
    """A copy of the dbt project whose points seeds each build rewrites, and one dbt session."""

    def __init__(self, root: Path) -> None:
        self.root = copy_project(root / "dbt_project")
        self.defaults = {
            name: list(csv.DictReader((self.root / "seeds" / name).open()))
            for name in (FIT_SEED, ENGAGEMENT_SEED)
        }
        self.session = DbtSession(project=self.root, target=root / "target")

    def build(self, source: Path, dest: Path, *extra: str, fit=(), engagement=()) -> Path:
        """dbt build (or ``extra``) on a copy of ``source`` with the default seed rows plus the
        given ones; raises StepFailed with dbt's messages when the build fails."""
        for name, rows in ((FIT_SEED, fit), (ENGAGEMENT_SEED, engagement)):
            columns = list(self.defaults[name][0])
            appended = [{column: row.get(column, "") for column in columns} for row in rows]
            _write_seed(self.root / "seeds" / name, [*self.defaults[name], *appended])
        dest.mkdir(parents=True, exist_ok=True)
        warehouse = dest / "warehouse.duckdb"  # the file name is the dbt database name
        shutil.copyfile(source, warehouse)  # no writer holds it: a plain copy is consistent
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("LEADSCORE_WAREHOUSE", str(warehouse))
            self.session(SCORE_DATE, *(extra or ("build",)))
        return warehouse


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> RuleProject:
    return RuleProject(tmp_path_factory.mktemp("rules-project"))


@pytest.fixture(scope="module")
def before(small_world) -> Path:
    """The small world as built with the default seeds (read only)."""
    return small_world.warehouse


@pytest.fixture(scope="module")
def companies(before) -> pd.DataFrame:
    frame = _query(before, "select * from staging.stg_crm__companies")
    frame["funding_stage"] = _properties(frame, "funding_stage")
    return frame


@pytest.fixture(scope="module")
def contacts(before) -> pd.DataFrame:
    frame = _query(
        before,
        """select c.*, e.seniority from staging.stg_crm__contacts c
        inner join intermediate.int_contacts_enriched e using (contact_id)""",
    )
    frame["lead_origin"] = _properties(frame, "lead_origin")
    frame["annual_budget"] = _properties(frame, "annual_budget")
    return frame


@pytest.fixture(scope="module")
def operator_rules(companies, contacts) -> dict[str, dict[str, str]]:
    """Test 2's fit rules by name; some take their values from the data (ends that exist, to
    see that they are included; a budget as the CRM writes it)."""
    employees = companies.employees.dropna().astype(int).sort_values().to_numpy()
    low, high = employees[len(employees) // 4], employees[3 * len(employees) // 4]
    created = sorted(companies.created_at.dt.date)[len(companies) // 2]
    budget = contacts.annual_budget.dropna().mode().iloc[0]  # as the CRM writes it: 6400.0
    size = companies.employees.dropna().astype(int).mode().iloc[0]
    return {
        "annual_revenue_between": _fit_rule(
            "company.annual_revenue", "between", "1000000..50000000", 3, 4
        ),
        "employees_between_exact_ends": _fit_rule(
            "company.employees", "between", f"{low}..{high}", 0.5, 1.5
        ),
        "created_up_to": _fit_rule("company.created_at", "between", f"..{created}", 0.25, 0.75),
        "funding_stage_equals": _fit_rule("company.funding_stage", "=", "series_a", 2, 5),
        # docs/rules.md: = compares a number as a number, so the CRM's 8500.0 is = 8500
        "employees_equals": _fit_rule("company.employees", "=", f"{size}", 0.0625, 0.375),
        "budget_between_one_value": _fit_rule(
            "contact.annual_budget", "between", f"{float(budget):.0f}..{float(budget):.0f}", 0.125
        ),
        "budget_equals_crm_text": _fit_rule("contact.annual_budget", "=", budget, 0.25),
        "budget_equals_number": _fit_rule(
            "contact.annual_budget", "=", f"{float(budget):.0f}", 0.375
        ),
        # a date compares by day: a timestamp counts as its date
        "created_on_day": _fit_rule(
            "company.created_at", "between", f"{created}..{created}", 0.5, 0.5
        ),
        "budget_unknown": _fit_rule("contact.annual_budget", "is_unknown", "", -1),
        "budget_open_between": _fit_rule("contact.annual_budget", "between", "20000..", 6),
        "lead_source_known": _fit_rule("lead_source", "is_known", "", 1),
        "industry_contains": _fit_rule("company.industry", "contains", "ware", 2, 2),
        "domain_matches": _fit_rule("company.domain", "matches", "^a", 1, 1),
        "seniority_unknown": _fit_rule("seniority", "is_unknown", "", -3),
    }


@pytest.fixture(scope="module")
def property_rule_build(project, before, tmp_path_factory) -> Path:
    """Test 1: the default seeds plus the lead_origin rule."""
    return project.build(before, tmp_path_factory.mktemp("lead-origin"), fit=[LEAD_ORIGIN_RULE])


@pytest.fixture(scope="module")
def rules_build(project, before, operator_rules, tmp_path_factory) -> Path:
    """Tests 2 and 3 in one build: the operator rules and the engagement rules (a fit rule never
    changes engagement, an engagement rule never changes fit)."""
    return project.build(
        before,
        tmp_path_factory.mktemp("operators"),
        fit=list(operator_rules.values()),
        engagement=ENGAGEMENT_RULES,
    )


def _fit_scores(warehouse: Path) -> pd.DataFrame:
    frame = _query(warehouse, "select * from marts.fit_scores")
    return frame.set_index(["entity_type", "entity_id"]).sort_index()


# -- 1. a property rule changes exactly the contacts it matches ------------------------------


def test_a_property_rule_adds_its_points_to_exactly_the_contacts_it_matches(
    before, property_rule_build, contacts
):
    """contact.lead_origin in lead_add_form|chat, 7 points: those contacts gain exactly 7 fit
    points (other_points and the unclamped fit_points), nobody else changes."""
    matched = set(contacts.contact_id[contacts.lead_origin.isin(["lead_add_form", "chat"])])
    assert 20 < len(matched) < len(contacts) / 2, f"{len(matched)} contacts match: a poor test"

    fit_before, fit_after = _fit_scores(before), _fit_scores(property_rule_build)
    assert fit_after.index.equals(fit_before.index)
    is_matched = pd.Series(
        [t == "contact" and i in matched for t, i in fit_before.index], index=fit_before.index
    )
    gained = fit_after.fit_points - fit_before.fit_points
    assert set(fit_before.index[gained != 0]) == {("contact", c) for c in matched}, (
        "fit_points changed for other entities than the contacts with lead_origin "
        "lead_add_form or chat"
    )
    assert (gained[is_matched] == 7).all(), gained[is_matched].value_counts()
    assert (fit_after.other_points - fit_before.other_points)[is_matched].eq(7).all()
    expected_score = fit_after.fit_points.clip(0, 100).round(1)
    assert (fit_after.fit_score == expected_score).all(), "fit_score is fit_points within 0-100"
    pd.testing.assert_frame_equal(
        fit_before[~is_matched], fit_after[~is_matched], obj="fit scores of unmatched entities"
    )
    columns = ["industry", "size_band", "region", "icp", "seniority", "department", "email_domain"]
    columns = [f"{c}_points" for c in columns]
    pd.testing.assert_frame_equal(fit_before[columns], fit_after[columns])

    leads_before = _query(before, "select * from marts.lead_scores").set_index("contact_id")
    leads_after = _query(property_rule_build, "select * from marts.lead_scores")
    leads_after = leads_after.set_index("contact_id").loc[leads_before.index]
    others = ~leads_before.index.isin(list(matched))
    pd.testing.assert_frame_equal(
        leads_before[others], leads_after[others], obj="lead scores of unmatched contacts"
    )
    sql = "select * from marts.account_scores order by account_id"
    pd.testing.assert_frame_equal(
        _query(before, sql),
        _query(property_rule_build, sql),
        obj="account scores (a contact property rule must not touch them)",
    )


def test_the_property_rule_is_explained_with_its_condition(property_rule_build, contacts):
    explained = _query(
        property_rule_build,
        """select entity_type, entity_id, rule_value, points from marts.score_explanations
        where score_name = 'fit' and rule = 'contact.lead_origin'""",
    )
    matched = set(contacts.contact_id[contacts.lead_origin.isin(["lead_add_form", "chat"])])
    assert set(explained.entity_id) == matched and set(explained.entity_type) == {"contact"}
    assert set(explained.rule_value) == {"in lead_add_form|chat"}
    assert (explained.points == 7).all()


# -- 2. every operator fires for exactly the entities it should ------------------------------


def _label(rule: dict[str, str]) -> str:
    """How the ledger (attribute_value) and explanations show a rule that is not '='."""
    if rule["operator"] in ("is_known", "is_unknown"):
        return rule["operator"]
    return f"{rule['operator']} {rule['value']}"


def _expected_hits(name: str, rule, companies, contacts) -> tuple[set, set]:
    """The accounts and contacts a rule of test 2 matches, computed from staging in Python."""
    revenue = companies.annual_revenue.astype(float)
    budget = contacts.annual_budget.map(lambda b: None if _is_unknown(b) else float(b))
    accounts = None  # company rules: the matching companies, and their contacts
    people = None  # contact rules
    if name == "annual_revenue_between":
        accounts = revenue.between(1_000_000, 50_000_000)
    elif name == "employees_between_exact_ends":
        low, high = (float(x) for x in rule["value"].split(".."))
        accounts = companies.employees.between(low, high)
    elif name == "created_up_to":
        last = pd.Timestamp(rule["value"].removeprefix("..")).date()
        accounts = companies.created_at.dt.date <= last
    elif name == "employees_equals":
        accounts = companies.employees == int(rule["value"])
    elif name == "created_on_day":
        day = pd.Timestamp(rule["value"].split("..")[0]).date()
        accounts = companies.created_at.dt.date == day
    elif name == "budget_between_one_value":
        people = budget == float(rule["value"].split("..")[0])
    elif name == "budget_equals_crm_text":
        people = contacts.annual_budget == rule["value"]
    elif name == "budget_equals_number":
        people = budget == float(rule["value"])  # 6400.0 is = 6400: numbers compare as numbers
    elif name == "funding_stage_equals":
        accounts = companies.funding_stage == "series_a"
    elif name == "industry_contains":
        accounts = companies.industry.str.lower().str.contains("ware", regex=False)
    elif name == "domain_matches":
        accounts = companies.domain.map(lambda d: bool(d and re.search("^a", d.lower())))
    elif name == "budget_unknown":
        people = budget.isna()
    elif name == "budget_open_between":
        people = budget >= 20_000
    elif name == "lead_source_known":
        people = ~contacts.lead_source.map(_is_unknown)
    elif name == "seniority_unknown":
        people = contacts.seniority.map(_is_unknown)
    if accounts is not None:
        ids = set(companies.company_id[accounts.fillna(False).astype(bool)])
        people = contacts.account_id.isin(ids)
        account_ids = ids if rule["account_points"] else set()
    else:
        account_ids = set()
    return account_ids, set(contacts.contact_id[people.fillna(False).astype(bool)])


@pytest.mark.parametrize("name", OPERATOR_RULES)
def test_each_operator_fires_for_exactly_the_entities_it_should(
    name, rules_build, operator_rules, companies, contacts
):
    rule = operator_rules[name]
    label = _label(rule)
    hits = _query(
        rules_build,
        f"""select entity_type, entity_id, attribute_value, points
        from intermediate.int_fit_rule_hits where attribute = '{rule["attribute"]}'""",
    )
    if rule["operator"] == "=":  # the ledger names the value that fired an '=' rule
        others = [_label(r) for r in operator_rules.values() if r["attribute"] == rule["attribute"]]
        own = {kind: float(rule[f"{kind}_points"] or 0) for kind in ("contact", "account")}
        points = hits.entity_type.map(own)
        hits = hits[~hits.attribute_value.isin(others) & (hits.points == points)]
    else:
        hits = hits[hits.attribute_value == label]
    accounts, people = _expected_hits(name, rule, companies, contacts)
    if name not in MATCHES_NOBODY:
        assert 0 < len(people) < len(contacts), f"{name} matches {len(people)} contacts"

    got_accounts = set(hits.entity_id[hits.entity_type == "account"])
    got_people = set(hits.entity_id[hits.entity_type == "contact"])
    assert got_people == people, (
        f"{rule['attribute']} {label}: {len(got_people - people)} contacts too many "
        f"({sorted(got_people - people)[:5]}), {len(people - got_people)} missing "
        f"({sorted(people - got_people)[:5]})"
    )
    assert got_accounts == accounts, (
        f"{rule['attribute']} {label}: accounts too many {sorted(got_accounts - accounts)[:5]}, "
        f"missing {sorted(accounts - got_accounts)[:5]}"
    )
    assert (hits[hits.entity_type == "contact"].points == float(rule["contact_points"])).all()
    if accounts:
        assert (hits[hits.entity_type == "account"].points == float(rule["account_points"])).all()
    if name == "employees_between_exact_ends":  # both ends inclusive
        low, high = (int(x) for x in rule["value"].split(".."))
        ends = set(companies.company_id[companies.employees.isin([low, high])])
        assert ends and ends <= got_accounts, "between includes both of its ends"
    if name == "created_up_to":  # a date end includes the whole day
        last = pd.Timestamp(rule["value"].removeprefix("..")).date()
        on_the_day = set(companies.company_id[companies.created_at.dt.date == last])
        assert on_the_day and on_the_day <= got_accounts, "a company created on the end day"


def test_fit_points_add_up_the_points_of_every_rule_that_fires(
    before, rules_build, operator_rules, companies, contacts
):
    """fit_scores.fit_points grows by exactly the sum of the new rules each entity matches."""
    expected = pd.Series(0.0, index=_fit_scores(before).index)
    for name, rule in operator_rules.items():
        accounts, people = _expected_hits(name, rule, companies, contacts)
        for account in accounts:
            expected[("account", account)] += float(rule["account_points"])
        for person in people:
            expected[("contact", person)] += float(rule["contact_points"])
    gained = _fit_scores(rules_build).fit_points - _fit_scores(before).fit_points
    wrong = gained[(gained - expected).abs() > 1e-9]
    assert wrong.empty, f"{len(wrong)} entities gained other points: {wrong.head().to_dict()}"


# -- 3. engagement: filters, per-unit, count and negative rules ------------------------------


@pytest.fixture(scope="module")
def engagement_events(before) -> pd.DataFrame:
    """Web events and CRM activities of CRM contacts within the lookback, with their age."""
    frame = _query(
        before,
        """
        select contact_id, 'web' as source, event_type as action, event_date as activity_date,
            page_url, null as outcome, duration_seconds
        from staging.stg_web__events
        where contact_id in (select contact_id from staging.stg_crm__contacts)
        union all
        select contact_id, 'crm', activity_type, activity_date, null, outcome, duration_seconds
        from staging.stg_crm__activities
        where contact_id in (select contact_id from staging.stg_crm__contacts)
        """,
    )
    frame["age"] = (pd.Timestamp(SCORE_DATE) - pd.to_datetime(frame.activity_date)).dt.days
    return frame[(frame.age >= 0) & (frame.age < LOOKBACK_DAYS)]


def _expected_engagement(events: pd.DataFrame) -> dict[str, pd.Series]:
    """What each rule of ENGAGEMENT_RULES gives each contact, by hand (docs: points x funnel
    weight x events or units, decayed, capped at max_points in absolute value)."""
    web = events[(events.source == "web") & (events.action == "page_view")]
    crm = events[events.source == "crm"]
    weight = STAGE_WEIGHT
    expected = {}
    pricing = web[web.page_url.str.lower().str.contains("/pricing", regex=False)]
    decayed = 3 * weight["awareness"] * 0.5 ** (pricing.age / 30)
    expected["pricing_posts"] = decayed.groupby(pricing.contact_id).sum().clip(upper=15)
    minutes = web.duration_seconds.fillna(0) / 60
    expected["page_minutes"] = (1 * minutes).groupby(web.contact_id).sum().clip(upper=20)
    calls = crm[(crm.action == "call") & (crm.age < 90)].groupby("contact_id").age
    count, newest = calls.size(), calls.min()
    three = pd.Series(8 * weight["consideration"], index=count.index[count >= 3])
    expected["three_calls"] = three.clip(upper=10)
    two = 12 * weight["consideration"] * 0.5 ** (newest[count >= 2] / 30)
    expected["two_calls"] = two.clip(upper=20)
    meetings = crm[(crm.action == "meeting") & (crm.outcome == "completed")]
    met = meetings.groupby("contact_id").size() * 10 * weight["decision"]
    expected["completed_meetings"] = met.clip(upper=45)
    sms = crm[crm.action == "sms"].groupby("contact_id").size() * -12 * weight["awareness"]
    expected["sms"] = sms.clip(lower=-10)
    return {rule: points[points != 0] for rule, points in expected.items()}


@pytest.fixture(scope="module")
def engagement_hits(rules_build) -> pd.DataFrame:
    rules = ", ".join(f"'{r}'" for r in NEW_ENGAGEMENT)
    return _query(
        rules_build,
        f"""select contact_id, rule, event_count, units, cast(points as double) as points
        from intermediate.int_engagement_rule_hits where rule in ({rules})""",
    )


@pytest.mark.parametrize("rule", NEW_ENGAGEMENT)
def test_each_engagement_rule_gives_exactly_its_points(rule, engagement_hits, engagement_events):
    expected = _expected_engagement(engagement_events)[rule]
    got = engagement_hits[engagement_hits.rule == rule].set_index("contact_id").points
    assert len(expected) > 0, f"{rule} matches nobody in the small world: a poor test"
    assert set(got.index) == set(expected.index), (
        f"{rule}: contacts too many {sorted(set(got.index) - set(expected.index))[:5]}, "
        f"missing {sorted(set(expected.index) - set(got.index))[:5]}"
    )
    diff = (got - expected.loc[got.index]).abs()
    assert diff.max() < 1e-4, f"{rule}: points differ, e.g. {diff.nlargest(3).to_dict()}"


def test_engagement_rules_keep_their_sign_and_cap(engagement_hits, engagement_events):
    by_rule = engagement_hits.groupby("rule").points
    assert (by_rule.max().drop("sms") > 0).all() and by_rule.max()["sms"] < 0
    assert (engagement_hits[engagement_hits.rule == "sms"].points == -10).all(), (
        "-12 points per SMS, capped at -10"
    )
    minutes = engagement_hits[engagement_hits.rule == "page_minutes"]
    assert minutes.points.max() == 20 and (minutes.points < 20).any(), "capped at 20 per contact"
    assert (minutes.units > 0).all(), "units are minutes on the page"
    two_calls = engagement_hits[engagement_hits.rule == "two_calls"]
    assert (two_calls.event_count >= 2).all()
    calls = engagement_events[engagement_events.action == "call"].groupby("contact_id").size()
    assert len(calls[calls >= 2]) > len(two_calls), "some contacts' calls lie outside the window"


def test_engagement_rules_change_only_the_contacts_they_match(before, rules_build, engagement_hits):
    sql = "select * from marts.engagement_scores order by contact_id"
    scores_before = _query(before, sql).set_index("contact_id")
    scores_after = _query(rules_build, sql).set_index("contact_id")
    assert scores_after.index.equals(scores_before.index)
    new_points = engagement_hits.groupby("contact_id").points.sum()
    matched = scores_before.index.isin(list(new_points.index))
    pd.testing.assert_frame_equal(
        scores_before[~matched], scores_after[~matched], obj="engagement of unmatched contacts"
    )
    gained = scores_after.engagement_points[matched] - scores_before.engagement_points[matched]
    diff = (gained - new_points.loc[gained.index]).abs()
    assert diff.max() < 1e-6, f"engagement_points gained other points: {diff.nlargest(3)}"
    explained = _query(
        rules_build,
        f"""select entity_id as contact_id, rule, cast(points as double) as points
        from marts.score_explanations where score_name = 'engagement'
            and entity_type = 'contact' and rule in ({", ".join(f"'{r}'" for r in NEW_ENGAGEMENT)})
        """,
    )
    pd.testing.assert_frame_equal(
        explained.sort_values(["contact_id", "rule"], ignore_index=True),
        engagement_hits[["contact_id", "rule", "points"]].sort_values(
            ["contact_id", "rule"], ignore_index=True
        ),
        obj="explanations of the new rules",
    )


def test_engagement_explanations_count_events_or_units(rules_build, engagement_events):
    """rule_value is the number of events counted (minutes, one decimal, for a per-unit rule)."""
    explained = (
        _query(
            rules_build,
            """select entity_id as contact_id, rule, rule_value from marts.score_explanations
        where score_name = 'engagement' and entity_type = 'contact'
            and rule in ('pricing_posts', 'page_minutes', 'three_calls', 'sms')""",
        )
        .set_index(["rule", "contact_id"])
        .rule_value
    )
    web = engagement_events[engagement_events.action == "page_view"]
    pricing = web[web.page_url.str.lower().str.contains("/pricing", regex=False)]
    minutes = web.groupby("contact_id").duration_seconds.sum() / 60
    calls = engagement_events[(engagement_events.action == "call") & (engagement_events.age < 90)]
    sms = engagement_events[engagement_events.action == "sms"]
    for rule, expected in {
        "pricing_posts": pricing.groupby("contact_id").size(),
        "three_calls": calls.groupby("contact_id").size(),
        "sms": sms.groupby("contact_id").size(),
    }.items():
        shown = explained.loc[rule].astype(int)
        assert (shown == expected.loc[shown.index]).all(), f"{rule}: events shown"
    shown = explained.loc["page_minutes"].astype(float)
    assert (shown - minutes.loc[shown.index]).abs().max() <= 0.05 + 1e-9, "minutes, one decimal"


def test_topic_scores_count_only_plain_positive_rules(before, rules_build):
    """Filtered, count and per-unit rules (and negative ones) leave topic_scores alone."""
    sql = "select * from marts.topic_scores"
    columns = None
    frames = []
    for warehouse in (before, rules_build):
        frame = _query(warehouse, sql)
        columns = columns or sorted(frame.columns)
        frames.append(frame[columns].sort_values(columns, ignore_index=True))
    assert len(frames[0]) > 0
    pd.testing.assert_frame_equal(frames[0], frames[1], obj="topic_scores")


# -- 4. bad rule rows stop the build ---------------------------------------------------------

BAD_ROWS = {
    "unknown_attribute": (
        FIT_SEED,
        _fit_rule("company.nonexistent", "=", "x", 5),
        ["unknown attribute 'company.nonexistent'", "property_catalogue.csv"],
    ),
    "between_on_text": (
        FIT_SEED,
        _fit_rule("industry", "between", "a..m", 5),
        ["between compares numbers or dates", "attribute industry is text"],
    ),
    "contains_on_number": (
        FIT_SEED,
        _fit_rule("company.employees", "contains", "50", 5, 5),
        ["contains compares text", "attribute company.employees is number"],
    ),
    "invalid_regex": (
        FIT_SEED,
        _fit_rule("company.domain", "matches", "(", 5, 5),
        ["matches '(' is not a valid regular expression"],
    ),
    "between_reversed": (
        FIT_SEED,
        _fit_rule("company.employees", "between", "500..10", 5, 5),
        ["between '500..10' has its ends reversed"],
    ),
    "between_end_not_a_number": (
        FIT_SEED,
        _fit_rule("contact.annual_budget", "between", "ten..20000", 5),
        ["between 'ten..20000' has an end that is not a number"],
    ),
    "account_points_on_contact_attribute": (
        FIT_SEED,
        _fit_rule("seniority", "=", "intern", 5, 5),
        ["account_points must be empty or 0: accounts have no seniority"],
    ),
    "enum_value_not_allowed": (
        FIT_SEED,
        _fit_rule("company.funding_stage", "=", "series_z", 5, 5),
        ["value 'series_z' is not one of", "series_a"],
    ),
    "unknown_action": (
        ENGAGEMENT_SEED,
        _engagement_rule("web_calls", "call", "web", "awareness", 5, 10),
        ["unknown action 'call' for source web", "page_view"],
    ),
    "unknown_filter_attribute": (
        ENGAGEMENT_SEED,
        _engagement_rule(
            "referred_views",
            "page_view",
            "web",
            "awareness",
            5,
            10,
            filter_attribute="referrer",
            filter_value="google",
        ),
        ["unknown filter_attribute 'referrer' for source web", "page_url"],
    ),
    "count_with_measure": (
        ENGAGEMENT_SEED,
        _engagement_rule(
            "long_calls",
            "call",
            "crm",
            "awareness",
            5,
            10,
            min_count=3,
            measure="duration_seconds",
            measure_unit=60,
        ),
        ["per unit of a measure or once for a count, not both"],
    ),
}


@pytest.fixture(scope="module")
def scratch(before, tmp_path_factory) -> Path:
    """Where the failing builds write (each case copies the small world's warehouse again)."""
    return tmp_path_factory.mktemp("bad-rows")


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_a_bad_rule_row_stops_the_build_naming_the_row_and_the_problem(
    case, project, before, scratch
):
    seed, row, problem = BAD_ROWS[case]
    model = "int_fit_rules" if seed == FIT_SEED else "int_engagement_rules"
    rows = {"fit": [row]} if seed == FIT_SEED else {"engagement": [row]}
    with pytest.raises(StepFailed) as failed:
        project.build(before, scratch / case, "build", "--select", f"+{model}", **rows)
    message = str(failed.value)
    if seed == FIT_SEED:
        key = (
            f"seeds/fit_points.csv: row segment=default, attribute={row['attribute']}, "
            f"operator={row['operator']}, value={row['value']}: "
        )
    else:
        key = f"seeds/engagement_points.csv: row segment=default, rule={row['rule']}: "
    assert "1 bad rule row(s)" in message, message
    line = next((x for x in message.splitlines() if key in x), None)
    assert line is not None, f"no line names {key!r}:\n{message}"
    for words in problem:
        assert words in line, f"{words!r} missing from the message line:\n{line}"


def test_the_default_seeds_pass_the_checks(project, before, scratch):
    """The same cheap build with no row added succeeds: the failures above are the rows'."""
    project.build(
        before, scratch / "defaults", "build", "--select", "+int_fit_rules", "+int_engagement_rules"
    )
    with duckdb.connect(str(scratch / "defaults" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from intermediate.int_fit_rules").fetchone()[0] > 0
