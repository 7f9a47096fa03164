"""A reference for the engagement score: one hand-written DuckDB query from the landed events.

``engagement_scores(con, score_date)`` computes every contact's engagement score for a score date
straight from the extractor's ``raw.*`` tables (email events and campaigns, web events, CRM
activities and contacts) in one SQL statement (``reference_engagement.sql`` beside this module),
instead of the dbt model chain (staging ->
``int_engagement_events`` -> ``int_engagement_daily`` / ``int_engagement_filtered_daily`` ->
``int_engagement_contact_daily`` -> ``int_engagement_rule_hits`` -> ``int_contact_engagement``).

It is a yardstick, not a second implementation to use: the benchmark times it beside the dbt
path on the same data (the issue's target: the dbt path within 2x of it), and
``tests/test_reference.py`` checks that both give every contact the same score. The arithmetic
is docs/rules.md's, and the rules are the project's: the points tables are read from the
warehouse's seed tables (``scoring_rules.engagement_points``, ``funnel_stage_weights``,
``segment_rules``, ``property_catalogue`` and the lookups segments use), the windows and
thresholds from the vars of ``dbt_project.yml``. The query assumes the rule rows are valid: dbt
checks them (``int_engagement_rules``) and stops the build on a bad one.

What staging does is mirrored, or the scores would not agree:
- each record at its newest version (newest by its time column, then the later file, then the
  later row of the file); quarantined rows are not in ``raw`` any more;
- point in time: contacts, companies, activities and campaigns only as delivered by the score date
  (file day), events at any delivery (their staging models keep every loaded version);
- contacts deleted in the CRM (var ``deleted_property``) are neither scored nor matched by address.
Points are fixed-point (``decimal(18, 6)``) per contact, rule and event day, as in the dbt ledger,
so the two sums are exact and round the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from leadscore import config

#: The query: one statement over the raw.* tables and the seed tables (schema scoring_rules).
SQL_FILE = Path(__file__).with_name("reference_engagement.sql")
#: The dbt model that holds the final engagement score per contact (marts.engagement_scores
#: publishes it as is).
DBT_MODEL = "intermediate.int_contact_engagement"


def engagement_sql() -> str:
    """The reference query (its parameters: ``parameters``)."""
    return SQL_FILE.read_text()


def parameters(score_date: date, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """The query's parameters: the score date and the vars of dbt_project.yml it uses."""
    variables = config.dbt_vars() if variables is None else variables
    return {
        "score_date": score_date,
        "half_life_days": float(variables["engagement_half_life_days"]),
        "lookback_days": int(variables["engagement_lookback_days"]),
        "ignored_mailings_threshold": int(variables["ignored_mailings_threshold"]),
        "deleted_path": f'$."{variables["deleted_property"]}"',
    }


def engagement_scores(
    con: duckdb.DuckDBPyConnection, score_date: date, variables: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Every contact's engagement score on ``score_date``: one row per contact scored that day,
    with the columns of ``int_contact_engagement`` but ``account_id``."""
    return con.execute(engagement_sql(), parameters(score_date, variables)).df()


@dataclass
class Agreement:
    """How the reference's scores compare with the dbt model's, contact by contact."""

    score_date: date
    contacts: int  # scored by both
    only_reference: int
    only_dbt: int
    #: contacts whose score (rounded), ignored-mailings count or last engaged date differ
    scores_differing: int
    #: contacts whose positive, negative or total points differ by a fixed-point unit or more
    points_differing: int
    max_points_difference: float
    examples: list[dict] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return not (
            self.only_reference or self.only_dbt or self.scores_differing or self.points_differing
        )

    def describe(self) -> str:
        if self.agrees:
            return f"the reference agrees with {DBT_MODEL} on all {self.contacts:,} contacts"
        return (
            f"the reference and {DBT_MODEL} disagree for {self.score_date}: "
            f"{self.only_reference} contact(s) only in the reference, {self.only_dbt} only in "
            f"dbt; of {self.contacts:,} in both, {self.scores_differing} with a different score, "
            f"ignored-mailings count or last engaged date, {self.points_differing} with points "
            f"apart (at most {self.max_points_difference:g}); first: {self.examples}"
        )


#: Points are fixed-point to the sixth decimal: half a unit apart is already a difference.
POINTS_TOLERANCE = 5e-7


def agreement(
    con: duckdb.DuckDBPyConnection,
    scores: pd.DataFrame,
    score_date: date,
    *,
    tolerance: float = POINTS_TOLERANCE,
    examples: int = 5,
) -> Agreement:
    """Compare ``scores`` (``engagement_scores``) with the dbt model on ``con``, contact by
    contact: the same contacts; the same score (both round the same way), ignored-mailings count
    and last engaged date; positive, negative and total points within ``tolerance``."""
    built = con.execute(f"select distinct score_date from {DBT_MODEL}").fetchall()
    if [row[0] for row in built] != [score_date]:
        raise ValueError(
            f"{DBT_MODEL} holds score date(s) {[str(row[0]) for row in built]}, not {score_date}: "
            "build it for that date (dbt build with the score date) before comparing"
        )
    points_apart = " or ".join(
        f"abs(ref.{c} - dbt.{c}) > $tolerance"
        for c in ("positive_points", "negative_points", "engagement_points")
    )
    scores_apart = " or ".join(
        f"ref.{c} is distinct from dbt.{c}"
        for c in ("engagement_score", "ignored_mailings", "last_engaged_date")
    )
    compared = f"""
        select
            coalesce(ref.contact_id, dbt.contact_id) as contact_id,
            ref.contact_id is null as only_dbt,
            dbt.contact_id is null as only_reference,
            coalesce({scores_apart}, false) as score_differs,
            coalesce({points_apart}, false) as points_differ,
            abs(ref.engagement_points - dbt.engagement_points) as points_difference,
            ref.engagement_score as reference_score,
            dbt.engagement_score as dbt_score,
            ref.engagement_points as reference_points,
            dbt.engagement_points as dbt_points
        from scores as ref
        full join {DBT_MODEL} as dbt on ref.contact_id = dbt.contact_id
    """
    con.register("scores", scores)
    try:
        summary = con.execute(
            f"""select
                count(*) filter (where not only_dbt and not only_reference),
                count(*) filter (where only_reference),
                count(*) filter (where only_dbt),
                count(*) filter (where score_differs and not only_dbt and not only_reference),
                count(*) filter (where points_differ and not only_dbt and not only_reference),
                coalesce(max(points_difference), 0)
            from ({compared})""",
            {"tolerance": tolerance},
        ).fetchone()
        rows = con.execute(
            f"""select * from ({compared})
            where only_dbt or only_reference or score_differs or points_differ
            order by score_differs desc, contact_id limit {int(examples)}""",
            {"tolerance": tolerance},
        ).df()
    finally:
        con.unregister("scores")
    return Agreement(
        score_date=score_date,
        contacts=summary[0],
        only_reference=summary[1],
        only_dbt=summary[2],
        scores_differing=summary[3],
        points_differing=summary[4],
        max_points_difference=float(summary[5]),
        examples=rows.to_dict("records"),
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m leadscore.reference``: compute the reference for the score date the warehouse
    is built for, time it, and compare it with the dbt model (exit 1 when they
    disagree; with --json it prints the comparison and exits 0, for the bench to read)."""
    import argparse
    import json
    import time

    parser = argparse.ArgumentParser(prog="python -m leadscore.reference", description=main.__doc__)
    parser.add_argument("--warehouse", type=Path, default=None, help="default: the configured one")
    parser.add_argument(
        "--score-date",
        type=date.fromisoformat,
        default=None,
        help=f"default: the score date {DBT_MODEL} is built for",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the timing and agreement as JSON"
    )
    args = parser.parse_args(argv)
    warehouse = args.warehouse or config.warehouse_path()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        score_date = (
            args.score_date or con.execute(f"select max(score_date) from {DBT_MODEL}").fetchone()[0]
        )
        began = time.perf_counter()
        scores = engagement_scores(con, score_date)
        seconds = time.perf_counter() - began
        found = agreement(con, scores, score_date)
    if args.json:
        summary = {"seconds": round(seconds, 3), "agrees": found.agrees, **found.__dict__}
        print(json.dumps(summary, default=str))
    else:
        print(f"reference for {score_date}: {len(scores):,} contacts in {seconds:.2f} s")
        print(found.describe())
    return 0 if found.agrees or args.json else 1


if __name__ == "__main__":
    raise SystemExit(main())
