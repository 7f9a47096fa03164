"""The bank-marketing example end to end on a sample of the real file: land, back-test, calibrate,
compare with gradient boosting (``make example-bank`` runs it on all 45,211 people)."""

from __future__ import annotations

import json

import duckdb
import pytest

from leadscore.examples.bank_marketing import DEFAULT_CSV
from leadscore.examples.bank_marketing_run import run
from tests.conftest import ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DEFAULT_CSV.exists(), reason=f"{DEFAULT_CSV} is not there"),
]


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    return run(tmp_path_factory.mktemp("bank"), sample=2000, every_months=4)


def test_the_example_prints_defaults_proposals_and_gradient_boosting_side_by_side(example):
    table = example.table.set_index("model")
    assert list(table.index) == [
        "default rules",
        "share proposal, adopted",
        "logistic proposal, adopted",
        "gradient boosting (sklearn)",
    ]
    # the default points tables know nothing of a bank: every contact scores the same
    assert table.loc["default rules", "auc"] == pytest.approx(0.5)
    # what calibration learns from the bank's properties and calls ranks far better
    for model in ("share proposal, adopted", "logistic proposal, adopted"):
        assert table.loc[model, "auc"] > 0.8, table
    assert table.loc["gradient boosting (sklearn)", "auc"] > 0.8, table
    assert set(example.seconds) == {
        "land",
        "project",
        "load",
        "backtest",
        "calibrate",
        "gradient_boosting",
    }
    saved = json.loads((example.out / "results.json").read_text())
    assert len(saved["table"]) == 4
    text = "\n".join(example.lines())
    assert "gradient boosting" in text and "fresh leads" in text


def test_the_example_learns_from_properties_and_activities_never_from_duration(example):
    with duckdb.connect(str(example.out / "warehouse.duckdb"), read_only=True) as con:
        rules = con.execute("select subscore, rule, action, source from marts.suggested_rules").df()
        columns = {
            r[0]
            for r in con.execute(
                "select column_name from duckdb_columns() where schema_name = 'raw'"
            ).fetchall()
        }
        keys = {
            k
            for (props,) in con.execute(
                "select _properties from raw.crm__contacts where _properties is not null"
            ).fetchall()
            for k in json.loads(props)
        }
    fit = rules[rules["subscore"] == "fit"]
    engagement = rules[rules["subscore"] == "engagement"]
    assert fit["rule"].str.startswith("contact.").any(), "no rule on the bank's properties"
    assert (engagement["source"] == "crm").any(), "no rule on the calls"
    assert "duration" not in columns and "duration" not in keys
    # the bank's properties are declared in the example's copy of the project, never in the
    # project's own catalogue
    catalogue = "seeds/property_catalogue.csv"
    assert (example.out / "dbt_project" / catalogue).read_text().count("bank marketing data") == 11
    assert "bank marketing data" not in (ROOT / "dbt_project" / catalogue).read_text()
