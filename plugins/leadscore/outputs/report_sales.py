"""The report's sales sections of the playbook: deal scoring and funnel KPIs.

:data:`~leadscore.outputs.report_playbook.SECTIONS` lists them with the other playbook sections.
Each reads one or two published tables (``marts.*`` of the serving copy) and draws with the
helpers of :mod:`leadscore.outputs.report_parts` and report.py. A table or column that is not
there (a publish made before it existed, a company without deals) gives a short note that says
what is missing and what fills it, never an error.
"""

from __future__ import annotations

from leadscore.outputs.report import (
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
    note,
    section,
)
from leadscore.outputs.report_parts import (
    Col,
    band_key,
    empty,
    fmt_days,
    fmt_text,
    listing,
    mart_columns,
    newest_run,
    not_on_this_date,
    pick,
    rate,
    validation_rows,
)

#: Open deal stages in pipeline order (the CRM's deal stages, docs/sources.md); others follow.
DEAL_STAGE_ORDER = ("prospecting", "qualification", "proposal", "negotiation")
#: Open deals listed by expected value.
TOP_DEALS = 15
#: Campaigns listed (most won deals first, then lead-to-won rate).
TOP_CAMPAIGNS = 10
#: Funnel stages: (count column of marts.funnel_kpis, label).
FUNNEL_STEPS = (
    ("leads", "leads"),
    ("mqls", "MQL"),
    ("sqls", "SQL"),
    ("opportunities", "opportunity"),
    ("won", "won"),
)
#: Median days columns of marts.funnel_kpis and the count that weighs a month's median: the
#: median of step i (FUNNEL_STEPS i → i+1), then lead → won.
FUNNEL_DAYS = (
    ("median_days_lead_to_mql", "mqls"),
    ("median_days_mql_to_sql", "sqls"),
    ("median_days_sql_to_opportunity", "opportunities"),
    ("median_days_sales_cycle", "won"),
    ("median_days_lead_to_won", "won"),
)
#: The campaign channel of leads without a campaign (marts.funnel_kpis): not a campaign.
NO_CAMPAIGN = "(none)"

# The columns deal_scoring reads; one a publish does not have yet reads as null.
DEAL_COLUMNS = [
    "deal_id",
    "account_id",
    "deal_name",
    "stage",
    "product_line",
    "amount",
    "days_in_stage",
    "win_probability",
    "expected_value",
    "comparable_deals",
    "top_reasons",
]


# --- deal scoring ------------------------------------------------------------------------------


def deal_scoring(ctx: _Context) -> str:
    """The open pipeline per stage, the top deals by expected value, and the calibration."""
    anchor, title = "deals", "Deal scoring"
    con = ctx.con
    calibration = _deal_calibration(ctx)
    if not has_table(con, "marts", "deal_scores"):
        missing = empty(
            "No {} in this publish: one row per open deal with its win probability, learned "
            "from the deals that closed before. A company without deals has none.",
            "marts.deal_scores",
        )
        return section(anchor, title, missing, calibration)
    deals = f"""select {pick(mart_columns(con, "deal_scores"), DEAL_COLUMNS)}
        from marts.deal_scores where score_date = $day"""
    stages = _rows(
        con,
        f"""select coalesce(stage, '–') as stage, count(*) as deals, sum(amount) as amount,
            sum(expected_value) as expected_value, avg(win_probability) as win_probability,
            count(win_probability) as predicted
        from ({deals}) group by all""",
        ctx.day,
    )
    if not stages:
        return section(anchor, title, not_on_this_date(ctx, "deal_scores"), calibration)
    by_stage = {r["stage"]: r for r in stages}
    stages = [by_stage[s] for s in _ordered(list(by_stage), DEAL_STAGE_ORDER)]
    total = {k: sum(r[k] or 0 for r in stages) for k in ("deals", "amount", "expected_value")}
    predicted = any(r["predicted"] for r in stages)
    body = [
        note(
            f"Open deals on {ctx.score_date} (marts.deal_scores). Expected value = amount × win "
            "probability; the probability is the win rate of the closed deals of the same stage, "
            "product line and time in stage, shrunk toward the stage's rate."
        ),
        cards(
            [
                ("deals:open", "open deals", total["deals"]),
                ("deals:amount", "pipeline amount", total["amount"]),
                (
                    "deals:expected_value",
                    "expected value",
                    total["expected_value"] if predicted else "–",
                ),
            ]
        ),
    ]
    if not predicted:
        body.append(
            empty(
                "No win probabilities yet: too few closed deals to learn from (var {}).",
                "deal_min_closed_deals",
            )
        )
    chart = column_chart(
        [r["stage"] for r in stages],
        [
            Series("amount", [r["amount"] or 0 for r in stages], "s0"),
            Series("expected value", [r["expected_value"] or 0 for r in stages], "s2"),
        ],
        title="Open pipeline per deal stage: amount and expected value",
        x_label="deal stage",
    )
    per_stage = listing(
        stages,
        [
            Col("stage", "stage"),
            Col("deals", "deals", fmt_int),
            Col("amount", "amount", fmt_int),
            Col("expected value", "expected_value", fmt_int),
            Col("mean win probability", "win_probability", fmt_pct),
        ],
    )
    caption = "Amount and expected value of the open deals per stage."
    body.append(
        f'<h3>Pipeline by stage</h3><div class="row">{figure(chart, caption)}'
        f"<div>{per_stage}</div></div>"
    )
    top = _rows(
        con,
        f"""select * from ({deals})
        order by expected_value desc nulls last, amount desc nulls last, deal_id
        limit {TOP_DEALS}""",
        ctx.day,
    )
    columns = [
        Col(
            "deal",
            lambda r: f"{r['deal_name']} ({r['deal_id']})" if r["deal_name"] else r["deal_id"],
        ),
        Col("account", "account_id"),
        Col("stage", "stage"),
        Col("product line", "product_line"),
        Col("amount", "amount", fmt_int),
        Col("days in stage", "days_in_stage", fmt_int),
        Col("win probability", "win_probability", fmt_pct),
        Col("expected value", "expected_value", fmt_int),
        Col("comparable deals", "comparable_deals", fmt_int),
        Col("top reasons", "top_reasons", fmt_text),
    ]
    body.append(
        f"<h3>Top {len(top)} open deals by expected value</h3>" + listing(top, columns, "deals")
    )
    body.append(calibration)
    return section(anchor, title, *body)


def _deal_calibration(ctx: _Context) -> str:
    """Predicted against observed win rate per probability band (model_validation deal_win)."""
    heading = "<h3>Calibration: predicted and observed win rate</h3>"
    run, rows, present = validation_rows(ctx, "deal_win")
    if not present:
        return heading + empty("No {} in this publish.", "marts.model_validation")
    if not rows:
        return heading + empty(
            "No {} rows of model {} yet: the point-in-time check of the win probabilities needs "
            "deals that closed after a past cut-off.",
            "marts.model_validation",
            "deal_win",
        )
    overall = next((r for r in rows if r["band_type"] == "all"), None)
    bands = sorted(
        ({**r, "band": str(r["band"])} for r in rows if r["band_type"] == "probability"),
        key=band_key,
    )
    by_stage = {str(r["band"]): r for r in rows if r["band_type"] == "stage"}
    stages = [by_stage[s] for s in _ordered(list(by_stage), DEAL_STAGE_ORDER)]
    span = (
        f", {overall['cutoffs']} cut-offs from {overall['first_cutoff']} to "
        f"{overall['last_cutoff']}"
        if overall and overall["first_cutoff"]
        else ""
    )
    parts = [
        heading,
        note(
            f"Validation run of {run}{span}: every deal open at a past cut-off, with the win "
            "probability it had then (learned only from deals closed before), against whether it "
            "was won. Well calibrated: observed ≈ predicted in every band."
        ),
    ]
    if overall:
        auc = fmt_num(overall["auc"], 3)
        parts.append(
            cards(
                [
                    ("auc:deal_win", "AUC, deal won (point in time)", auc),
                    ("base:deal_win", "win rate, all", fmt_pct(overall["rate"])),
                    ("entities:deal_win", "deals × cut-offs", overall["entities"] or 0),
                ]
            )
        )
    if "predicted_rate" not in present:
        parts.append(empty("This publish has no {}: observed rates only.", "predicted_rate"))
    columns = [
        Col("band", "band"),
        Col("deals", "entities", fmt_int),
        Col("won", "positives", fmt_int),
        Col("predicted", "predicted_rate", fmt_pct),
        Col("observed", "rate", fmt_pct),
    ]
    if bands:
        svg = column_chart(
            [b["band"] for b in bands],
            [
                Series("predicted", [b["predicted_rate"] or 0 for b in bands], "s1"),
                Series("observed", [b["rate"] or 0 for b in bands], "s0"),
            ],
            title="Deal win rate per probability band: predicted and observed",
            value_format=fmt_pct,
            integer=False,
            x_label="win-probability band",
        )
        caption = "Mean predicted probability next to the observed win rate, per band."
        parts.append(
            f'<div class="row">{figure(svg, caption)}<div>{listing(bands, columns)}</div></div>'
        )
    else:
        parts.append(empty("No probability bands in this validation run."))
    if stages:
        parts.append("<h4>Per stage at the cut-off</h4>" + listing(stages, columns))
    return "".join(parts)


# --- funnel KPIs -------------------------------------------------------------------------------


def funnel(ctx: _Context) -> str:
    """The whole funnel with its step conversion rates, per lead source and the best campaigns."""
    anchor, title = "funnel", "Funnel"
    con = ctx.con
    if not has_table(con, "marts", "funnel_kpis"):
        missing = empty(
            "No {} in this publish: leads, MQLs, SQLs, opportunities and won deals per month of "
            "lead creation and channel; the next run publishes them.",
            "marts.funnel_kpis",
        )
        return section(anchor, title, missing)
    run = newest_run(ctx, "funnel_kpis")
    if run is None:
        return section(anchor, title, not_on_this_date(ctx, "funnel_kpis"))
    present = mart_columns(con, "funnel_kpis")
    month = "lead_month" if "lead_month" in present else "month"
    sums = ", ".join(f"sum({c}) as {c}" for c in [*(c for c, _ in FUNNEL_STEPS), "won_amount"])
    # a month's median weighed by the leads that reached the later stage
    medians = ", ".join(
        f"sum({c} * {w}) / nullif(sum(case when {c} is not null then {w} end), 0) as {c}"
        if c in present
        else f"null as {c}"
        for c, w in FUNNEL_DAYS
    )

    def grouped(breakdown: str) -> list[dict]:
        return _rows(
            con,
            f"""select channel, {sums}, {medians}, min({month}) as first_month,
                max({month}) as last_month
            from marts.funnel_kpis where score_date = $run and breakdown = $breakdown
            group by channel""",
            {"run": run, "breakdown": breakdown},
        )

    sources = sorted(grouped("lead_source"), key=lambda r: (-(r["leads"] or 0), r["channel"]))
    totals = grouped("total")
    if totals:
        whole = totals[0]
    elif sources:  # no total breakdown: the lead sources add up to the whole funnel
        whole = {c: sum(r[c] or 0 for r in sources) for c, _ in FUNNEL_STEPS}
        whole |= dict.fromkeys((c for c, _ in FUNNEL_DAYS), None)
        whole["first_month"] = min(r["first_month"] for r in sources)
        whole["last_month"] = max(r["last_month"] for r in sources)
    else:
        return section(
            anchor, title, empty(f"{{}} has no lead_source rows for {run}.", "marts.funnel_kpis")
        )
    counts = [whole[c] or 0 for c, _ in FUNNEL_STEPS]
    steps = [rate(counts[i + 1], counts[i]) for i in range(len(counts) - 1)]
    lead_to_won = rate(whole["won"], whole["leads"])
    body = [
        note(
            f"Leads created from {whole['first_month']:%Y-%m} to {whole['last_month']:%Y-%m}, "
            f"as of {run} (marts.funnel_kpis). Stages are cumulative: a lead counts at every "
            "stage up to the furthest it reached. Recent months are still converting."
        ),
        cards(
            [
                ("funnel:leads", "leads", counts[0]),
                ("funnel:won", "won", counts[-1]),
                ("funnel:lead_to_won", "lead → won", fmt_pct(lead_to_won)),
                ("funnel:sales_cycle", "median sales cycle", fmt_days(whole[FUNNEL_DAYS[3][0]])),
            ]
        ),
    ]
    labels = [label for _, label in FUNNEL_STEPS]
    names = ["lead", *labels[1:]]  # of a lead's steps
    svg = column_chart(
        labels,
        [Series("leads", counts, "s0")],
        title="The funnel: leads reaching each stage",
        bar_labels=[fmt_int(counts[0])]
        + [f"{fmt_int(n)} ({fmt_pct(r)})" for n, r in zip(counts[1:], steps, strict=True)],
        x_label="stage (in brackets: the conversion of the step into it)",
    )
    step_rows = [
        {"step": f"{names[i]} → {names[i + 1]}", "rate": steps[i], "days": whole[c]}
        for i, (c, _) in enumerate(FUNNEL_DAYS[:-1])
    ] + [{"step": "lead → won", "rate": lead_to_won, "days": whole[FUNNEL_DAYS[-1][0]]}]
    step_table = listing(
        step_rows,
        [
            Col("step", "step"),
            Col("conversion", "rate", fmt_pct),
            Col("median days", "days", fmt_days),
        ],
    )
    days_note = note(
        "Median days: each month's median over the leads with both dates, averaged over the "
        "months weighted by the leads that reached the later stage."
    )
    caption = "All lead sources, all months of lead creation together."
    body.append(f'<div class="row">{figure(svg, caption)}<div>{step_table}{days_note}</div></div>')
    body.append("<h3>By lead source</h3>" + _channel_table(sources, "lead source"))
    campaigns = sorted(
        (r for r in grouped("campaign") if r["channel"] != NO_CAMPAIGN),
        key=lambda r: (-(r["won"] or 0), -(rate(r["won"], r["leads"]) or 0), r["channel"]),
    )[:TOP_CAMPAIGNS]
    if campaigns:
        body.append(
            f"<h3>Campaigns that bring leads that convert (top {len(campaigns)})</h3>"
            + note(
                "The campaign of the lead's first email click; most won deals first, then the "
                f"lead → won rate. Leads without a campaign click ({NO_CAMPAIGN}) are left out."
            )
            + _channel_table(campaigns, "campaign")
        )
    else:
        body.append(note("No leads with a campaign click in marts.funnel_kpis."))
    return section(anchor, title, *body)


def _channel_table(rows: list[dict], name: str) -> str:
    columns = [
        Col(name, "channel"),
        Col("leads", "leads", fmt_int),
        Col("MQL", "mqls", fmt_int),
        Col("SQL", "sqls", fmt_int),
        Col("opportunity", "opportunities", fmt_int),
        Col("won", "won", fmt_int),
        Col("won amount", "won_amount", fmt_int),
        Col("lead → won", lambda r: rate(r["won"], r["leads"]), fmt_pct),
        Col("median sales cycle", FUNNEL_DAYS[3][0], fmt_days),
    ]
    return listing(rows, columns, "channels")
