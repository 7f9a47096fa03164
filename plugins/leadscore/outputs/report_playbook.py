"""The report's playbook sections: service levels, hand-over within capacity and the control
group here, deal scoring and funnel KPIs from :mod:`leadscore.outputs.report_sales`, and
:data:`SECTIONS`, all five in page order.

``build_html`` in :mod:`leadscore.outputs.report` puts them after the validation section, in the
order of :data:`SECTIONS`. Each reads one or two published tables (``marts.*`` of the serving
copy) and draws with the helpers of :mod:`leadscore.outputs.report_parts` and report.py. A table
or column that is not there (a publish made before it existed, a company without deals, a control
group that is off) gives a short note that says what is missing and what fills it, never an
error.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from leadscore.outputs.report import (
    TIER_ORDER,
    HBar,
    Raw,
    Series,
    _Context,
    _ordered,
    _rows,
    cards,
    column_chart,
    figure,
    fmt_int,
    fmt_num,
    fmt_pct,
    has_table,
    hbar_chart,
    note,
    section,
    signal_rows,
)
from leadscore.outputs.report_parts import (
    Col,
    Interval,
    Playbook,
    empty,
    fmt_ci,
    fmt_days,
    fmt_pp,
    interval_chart,
    listing,
    mart_columns,
    not_on_this_date,
    pick,
    validation_rows,
)
from leadscore.outputs.report_sales import deal_scoring, funnel

#: Control-group bands in the order they are listed.
CONTROL_BANDS = ("MQL", "SQL", "all")
#: Leads listed from the waiting list (highest lead score first).
WAITING_ROWS = 20
#: Score dates of hand-overs per owner.
HANDOVER_DAYS = 14
#: Hand-over statuses that give a lead to someone (the day's handover signals) and their colours.
HANDED_OVER = {"routed": "s0", "released": "s2", "overflow": "s1"}
#: lead_handovers statuses counted per queue, in order.
QUEUE_STATUSES = ("routed", "released", "overflow", "waiting")

# The columns service_levels reads; one a publish does not have yet reads as null.
COVERAGE_COLUMNS = [
    "service_level",
    "tier",
    "support_tier",
    "csm_coverage",
    "first_response_hours",
    "accounts_per_csm",
    "customer_accounts",
    "annual_contract_value",
    "mean_account_score",
    "csms_needed",
    "contract_value_per_csm",
]


# --- service levels ----------------------------------------------------------------------------


def service_levels(ctx: _Context) -> str:
    """Customer accounts per service level, the CSMs they need, and today's level changes."""
    anchor, title = "service-levels", "Service levels"
    con = ctx.con
    signals = _service_signals(ctx)
    changes = _service_changes(ctx, signals)
    account_columns = mart_columns(con, "account_scores")
    if has_table(con, "marts", "service_level_coverage"):
        rows = _rows(
            con,
            f"""select {pick(mart_columns(con, "service_level_coverage"), COVERAGE_COLUMNS)}
            from marts.service_level_coverage where score_date = $day""",
            ctx.day,
        )
        source = "marts.service_level_coverage"
        if not rows:
            return section(anchor, title, not_on_this_date(ctx, "service_level_coverage"), changes)
    elif "service_level" in account_columns and not ctx.from_history:
        # a publish with the accounts' levels but no coverage table: count the accounts
        rows = _rows(
            con,
            f"""select service_level, min(tier) as tier, count(*) as customer_accounts,
                avg(account_score) as mean_account_score,
                {pick(account_columns, ["support_tier", "csm_coverage", "first_response_hours"])}
            from marts.account_scores where score_date = $day and service_level is not null
            group by all""",
            ctx.day,
        )
        source = "marts.account_scores; no marts.service_level_coverage in this publish"
    else:
        missing = empty(
            "No service levels in this publish: {} and {} come with the service_levels seed "
            "(support tier, CSM coverage and accounts per CSM per tier); the next run publishes "
            "them.",
            "marts.service_level_coverage",
            "account_scores.service_level",
        )
        return section(anchor, title, missing, changes)
    tier_rank = {t: i for i, t in enumerate(TIER_ORDER)}
    rows.sort(key=lambda r: (tier_rank.get(r["tier"], len(TIER_ORDER)), str(r["service_level"])))
    total = {  # "–" for a figure this publish does not have
        k: sum(r.get(k) or 0 for r in rows) if any(r.get(k) is not None for r in rows) else "–"
        for k in ("customer_accounts", "annual_contract_value", "csms_needed")
    }
    body = [
        note(
            f"Customer accounts per service level on {ctx.score_date} ({source}). The level "
            "follows the account's tier; CSMs needed = accounts over the level's accounts per "
            "CSM, rounded up (a level without a CSM book needs none)."
        ),
        cards(
            [
                ("service:accounts", "customer accounts with a level", total["customer_accounts"]),
                ("service:contract_value", "annual contract value", total["annual_contract_value"]),
                ("service:csms_needed", "CSMs needed", total["csms_needed"]),
                ("service:changes", "service-level changes today", len(signals)),
            ]
        ),
    ]
    charts = [
        figure(
            hbar_chart(
                [
                    HBar(
                        str(r["service_level"]),
                        r["customer_accounts"] or 0,
                        "customer",
                        fmt_int(r["customer_accounts"] or 0),
                    )
                    for r in rows
                ],
                title="Customer accounts per service level",
                width=520,
            ),
            "Customer accounts per service level, highest tier first.",
        )
    ]
    with_book = [r for r in rows if r.get("contract_value_per_csm") is not None]
    if with_book:
        bars = [
            HBar(
                f"{r['service_level']} ({fmt_int(r['csms_needed'])} CSMs)",
                r["contract_value_per_csm"],
                "s3",
                fmt_int(r["contract_value_per_csm"]),
            )
            for r in with_book
        ]
        charts.append(
            figure(
                hbar_chart(bars, title="Annual contract value per CSM", width=520),
                "Annual contract value each CSM of the level looks after.",
            )
        )
    hours = Col(
        "first response", "first_response_hours", lambda v: "–" if v is None else f"{v:g} h"
    )
    columns = [
        Col("service level", "service_level"),
        Col("tier", "tier"),
        Col("support", "support_tier"),
        Col("CSM coverage", "csm_coverage"),
        hours,
        Col("accounts per CSM", "accounts_per_csm", fmt_int),
        Col("accounts", "customer_accounts", fmt_int),
        Col("annual contract value", "annual_contract_value", fmt_int),
        Col("mean account score", "mean_account_score", fmt_num),
        Col("CSMs needed", "csms_needed", fmt_int),
        Col("value per CSM", "contract_value_per_csm", fmt_int),
    ]
    body += [f'<div class="row pair">{"".join(charts)}</div>', listing(rows, columns), changes]
    return section(anchor, title, *body)


def _service_signals(ctx: _Context) -> list[dict]:
    """Today's service-level changes: the signal rows the signals section lists too."""
    rows = signal_rows(ctx.con, ctx.score_date, only_new=False)
    return [r for r in rows if r["signal_type"] == "service"]


def _service_changes(ctx: _Context, signals: list[dict]) -> str:
    """Today's service-level changes (signal_type service of marts.score_signals)."""
    if not signals:
        return note(f"No service-level changes on {ctx.score_date} (marts.score_signals).")
    new = sum(bool(s["is_new"]) for s in signals)
    badge = Col("", "is_new", lambda v: Raw('<span class="badge new">new</span>') if v else "")
    columns = [badge, Col("signal", "signal"), Col("account", "entity_id"), Col("reason", "reason")]
    return f"<h3>Service-level changes ({len(signals):,}, {new:,} new)</h3>" + listing(
        signals, columns, css="signals"
    )


# --- hand-over within capacity -----------------------------------------------------------------


def handovers(ctx: _Context) -> str:
    """Today's queues against their capacity, the waiting list, hand-overs per owner per day."""
    anchor, title = "handovers", "Hand-over within capacity"
    con = ctx.con
    if not has_table(con, "marts", "lead_handovers"):
        missing = empty(
            "No {} in this publish: the leads that crossed the MQL or SQL threshold, routed "
            "within each queue's capacity (seed routing_capacity); the next run publishes it.",
            "marts.lead_handovers",
        )
        return section(anchor, title, missing)
    today = _rows(con, "select * from marts.lead_handovers where score_date = $day", ctx.day)
    if not today:
        nothing = empty(
            f"No rows in {{}} for {ctx.score_date}: no lead crossed the MQL or SQL threshold and "
            "nobody is waiting.",
            "marts.lead_handovers",
        )
        return section(anchor, title, nothing, _per_owner(ctx))
    counts = {s: sum(r["status"] == s for r in today) for s in (*QUEUE_STATUSES, "withdrawn")}
    held_out = sum(r["status"] == "held_out" for r in today)
    body = [
        note(
            f"Leads that crossed the MQL or SQL threshold, and the waiting list, on "
            f"{ctx.score_date} (marts.lead_handovers): taken highest lead score first up to each "
            "queue's capacity (seed routing_capacity); past it a lead goes to the queue's "
            "overflow owner, or waits."
        ),
        cards(
            [(f"handover:{s}", s, n) for s, n in counts.items()]
            + [("handover:held_out", "held out (control group)", held_out)]
        ),
    ]
    queues: dict[str, dict] = {}
    for r in today:
        if r["queue"] is not None:
            queue = queues.setdefault(r["queue"], {"queue": r["queue"], "row": r})
            queue[r["status"]] = queue.get(r["status"], 0) + 1
    if queues:

        def capacity(q: dict) -> str:
            limit, period = q["row"]["capacity"], q["row"]["capacity_period"] or "day"
            return "no limit" if limit is None else f"{fmt_int(limit)} per {period}"

        columns = [Col("queue", "queue"), Col("capacity", capacity)]
        columns += [Col(s, lambda q, s=s: q.get(s, 0), fmt_int) for s in QUEUE_STATUSES]
        ordered = [queues[q] for q in sorted(queues)]
        body.append("<h3>Queues today</h3>" + listing(ordered, columns, "queues"))
    waiting = sorted(
        (r for r in today if r["status"] == "waiting"),
        key=lambda r: (-(r["lead_score"] or 0), r["contact_id"]),
    )
    if waiting:
        shown = waiting[:WAITING_ROWS]
        columns = [
            Col("contact", "contact_id"),
            Col("account", "account_id"),
            Col("queue", "queue"),
            Col("stage", "lifecycle_stage"),
            Col("lead score", "lead_score", fmt_num),
            Col("place in queue", "queue_rank", fmt_int),
            Col("crossed on", "crossed_on"),
            Col("days waited", "days_waited", fmt_int),
        ]
        body.append(
            f"<h3>Waiting list ({len(waiting):,}; the {len(shown)} highest lead scores)</h3>"
            + listing(shown, columns, "waiting")
        )
    else:
        body.append(note("Nobody is waiting: every queue took its leads within capacity."))
    body.append(_per_owner(ctx))
    return section(anchor, title, *body)


def _per_owner(ctx: _Context) -> str:
    """Hand-overs (routed, released, overflow) per owner over the last HANDOVER_DAYS dates."""
    rows = _rows(
        ctx.con,
        f"""with days as (
            select distinct score_date from marts.lead_handovers where score_date <= $day
            order by score_date desc limit {HANDOVER_DAYS}
        )
        select score_date, coalesce(owner, '–') as owner, status, count(*) as n
        from marts.lead_handovers inner join days using (score_date)
        where status in ({", ".join(f"'{s}'" for s in HANDED_OVER)})
        group by all""",
        ctx.day,
    )
    heading = f"<h3>Hand-overs per owner, last {HANDOVER_DAYS} score dates</h3>"
    if not rows:
        return heading + note(f"No hand-overs in the last {HANDOVER_DAYS} score dates.")
    days: list[date] = sorted({r["score_date"] for r in rows})
    per_day = {(r["score_date"], r["status"]): r["n"] for r in rows}
    svg = column_chart(
        [f"{d:%m-%d}" for d in days],
        [
            Series(s, [per_day.get((d, s), 0) for d in days], css)
            for s, css in HANDED_OVER.items()
            if any(status == s for _, status in per_day)  # a status nobody had: no empty bars
        ],
        title="Hand-overs per score date",
        x_label="score date",
    )
    owners: dict[str, dict] = {}
    for r in rows:
        owner = owners.setdefault(r["owner"], {"owner": r["owner"], "total": 0})
        owner[r["score_date"]] = owner.get(r["score_date"], 0) + r["n"]
        owner["total"] += r["n"]
    columns = [Col("owner", "owner")]
    columns += [
        Col(f"{d:%m-%d}", lambda o, d=d: o.get(d), lambda v: fmt_int(v) if v else "") for d in days
    ]
    columns.append(Col("total", "total", fmt_int))
    caption = "Routed, released from the waiting list, and sent to the queue's overflow owner."
    return (
        heading
        + figure(svg, caption)
        + listing([owners[o] for o in sorted(owners)], columns, "owners")
    )


# --- control group -----------------------------------------------------------------------------


def control_group(ctx: _Context) -> str:
    """Conversion of routed against held-out leads, with 95 % intervals and time to convert."""
    anchor, title = "control-group", "Control group"
    held_out = _held_out_today(ctx)
    run, rows, present = validation_rows(ctx, "control_group")
    if not rows and not held_out:
        if ctx.from_history:
            text = (
                f"No control_group rows in {{}} up to {ctx.score_date}; the held-out leads are in "
                f"{{}} of the current publish ({ctx.current_date}) only."
            )
            return section(
                anchor, title, empty(text, "marts.model_validation", "marts.lead_scores")
            )
        missing = " (this publish has no lead_scores.is_held_out)" if held_out is None else ""
        off = empty(
            f"The control group is off{missing}: no lead is held out and {{}} has no "
            "control_group rows. Set the dbt var {} (e.g. 0.05: 5 % of contacts, drawn by a "
            "stable hash) to keep a share of leads out of score-based routing and measure what "
            "routing by score adds.",
            "marts.model_validation",
            "control_group_share",
        )
        return section(anchor, title, off)
    figures = [] if held_out is None else [("control:held_out", "leads held out today", held_out)]
    if not rows:
        waiting = empty(
            f"{held_out:,} leads are held out on {ctx.score_date}, but {{}} has no control_group "
            "rows yet: they come once held-out and routed leads have had the validation horizon "
            "to convert.",
            "marts.model_validation",
        )
        return section(anchor, title, cards(figures), waiting)
    cell = {(r["band_type"], str(r["band"])): r for r in rows}
    bands = _ordered(sorted({str(r["band"]) for r in rows}), CONTROL_BANDS)
    first = next((r for r in rows if r["first_cutoff"]), None)
    span = (
        f" ({first['cutoffs']} cut-offs from {first['first_cutoff']} to {first['last_cutoff']})"
        if first
        else ""
    )
    body = [
        note(
            f"Validation run of {run}{span}: leads routed by score against the held-out leads "
            "(scored, never routed by score), per stage reached; rate = share that converted, "
            "with its 95 % interval. An interval of the difference that excludes 0 means "
            "routing by score changed the conversion."
        ),
        cards(figures),
    ]

    def get(band_type: str, key: str) -> Callable[[str], object]:
        return lambda band: (cell.get((band_type, band)) or {}).get(key)

    def with_ci(band_type: str, fmt: Callable[[float | None], str]) -> Callable[[str], str]:
        def text(band: str) -> str:
            r = cell.get((band_type, band))
            if r is None:
                return "–"
            return f"{fmt(r['rate'])} {fmt_ci(r['rate_ci_low'], r['rate_ci_high'], fmt)}".strip()

        return text

    def days(band: str) -> str:
        routed, held = (
            get("routed", "median_days_to_outcome")(band),
            get("held_out", "median_days_to_outcome")(band),
        )
        return f"{fmt_days(routed)} / {fmt_days(held)}"

    columns = [
        Col("band", lambda b: b),
        Col("routed leads", get("routed", "entities"), fmt_int),
        Col("routed converted", get("routed", "positives"), fmt_int),
        Col("routed rate [95 %]", with_ci("routed", fmt_pct)),
        Col("held-out leads", get("held_out", "entities"), fmt_int),
        Col("held-out converted", get("held_out", "positives"), fmt_int),
        Col("held-out rate [95 %]", with_ci("held_out", fmt_pct)),
        Col("difference [95 %]", with_ci("difference", fmt_pp)),
        Col("median days to convert (routed / held out)", days),
    ]
    body.append(listing(bands, columns, "control"))
    if "rate_ci_low" not in present:
        body.append(empty("This publish has no {}: no intervals.", "rate_ci_low"))
    groups = [
        Interval(f"{b} {name}", r["rate"], r["rate_ci_low"], r["rate_ci_high"], css)
        for b in bands
        for band_type, name, css in (("routed", "routed", "s0"), ("held_out", "held out", "s1"))
        if (r := cell.get((band_type, b))) and r["rate"] is not None
    ]
    differences = [
        Interval(b, r["rate"], r["rate_ci_low"], r["rate_ci_high"], "s2")
        for b in bands
        if (r := cell.get(("difference", b))) and r["rate"] is not None
    ]
    charts = []
    if groups:
        svg = interval_chart(groups, title="Conversion rate, routed and held out")
        charts.append(
            figure(
                svg, "Dot: conversion rate; bar: its 95 % interval. Blue routed, orange held out."
            )
        )
    if differences:
        svg = interval_chart(
            differences, title="Routed minus held out", value_format=fmt_pp, zero_line=True
        )
        charts.append(
            figure(
                svg,
                "Difference of the conversion rates in percentage points, with its 95 % "
                "interval; dashed: no difference.",
            )
        )
    if charts:
        body.append(f'<div class="row pair">{"".join(charts)}</div>')
    return section(anchor, title, *body)


def _held_out_today(ctx: _Context) -> int | None:
    """Leads held out on the report's date; None for an older date (marts.lead_scores holds the
    current publish only) or a publish without ``lead_scores.is_held_out``."""
    if ctx.from_history or "is_held_out" not in mart_columns(ctx.con, "lead_scores"):
        return None
    return ctx.con.execute(
        "select count(*) filter (where is_held_out) from marts.lead_scores where score_date = $day",
        ctx.day,
    ).fetchone()[0]


#: The playbook sections in page order (after "How well the scores predict").
SECTIONS = (
    Playbook("service-levels", "Service levels", service_levels),
    Playbook("deals", "Deals", deal_scoring),
    Playbook("funnel", "Funnel", funnel),
    Playbook("handovers", "Hand-over", handovers),
    Playbook("control-group", "Control group", control_group),
)
