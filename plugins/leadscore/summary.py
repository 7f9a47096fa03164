"""A short, human summary of the published scores (what ``make demo`` prints)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from leadscore import config
from leadscore.publish import current_dir, last_publish, serving_path


def render_summary(warehouse: Path | None = None, *, top: int = 10) -> str:
    warehouse = warehouse or config.warehouse_path()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        score_date, contacts, mql, sql_, customers = con.execute(
            """
            select
                max(score_date),
                count(*),
                count(*) filter (where lifecycle_stage = 'MQL'),
                count(*) filter (where lifecycle_stage = 'SQL'),
                count(*) filter (where lifecycle_stage = 'customer')
            from marts.lead_scores
            """
        ).fetchone()
        tiers = con.execute(
            """
            select tier, count(*), count(*) filter (where is_customer)
            from marts.account_scores group by tier
            order by min(account_score) desc
            """
        ).fetchall()
        accounts = con.execute(
            f"""
            select a.account_id, c.company_name, a.tier, a.account_score, a.fit_score,
                a.engagement_score, a.financial_score
            from marts.account_scores a
            left join staging.stg_crm__companies c on c.company_id = a.account_id
            where a.is_customer
            order by a.account_score desc, a.account_id limit {int(top)}
            """
        ).fetchall()
        leads = con.execute(
            f"""
            select l.contact_id, c.first_name || ' ' || c.last_name, c.job_title, l.grade,
                l.lifecycle_stage, l.lead_score, l.fit_score, l.engagement_score
            from marts.lead_scores l
            left join staging.stg_crm__contacts c on c.contact_id = l.contact_id
            where l.lifecycle_stage != 'customer'
            order by l.lead_score desc, l.contact_id limit {int(top)}
            """
        ).fetchall()

        validation = con.execute(
            """
            select model, auc, cutoffs, first_cutoff, last_cutoff,
                (select lift from marts.model_validation d
                 where d.score_date = v.score_date and d.model = v.model
                   and d.band_type = 'decile' and d.band = '1') as top_decile_lift
            from marts.model_validation v
            where band_type = 'all'
                and score_date = (select max(score_date) from marts.model_validation)
            order by model desc
            """
        ).fetchall()
        signals = con.execute(
            """
            select signal_type, count(*), count(*) filter (where is_new)
            from marts.score_signals
            where score_date = (select max(score_date) from marts.score_signals)
            group by signal_type order by signal_type
            """
        ).fetchall()

    lines = [
        f"Scores for {score_date} (warehouse {warehouse})",
        f"  contacts scored: {contacts:,}   MQL: {mql:,}   SQL: {sql_:,}   "
        f"customer contacts: {customers:,}",
        "  accounts per tier: "
        + ", ".join(f"{tier} {n:,} ({c:,} customers)" for tier, n, c in tiers),
        "",
        f"Top {top} customer accounts (score = fit / engagement / financial):",
    ]
    for account_id, name, tier, score, fit, eng, fin in accounts:
        financial = "-" if fin is None else f"{fin:.0f}"
        lines.append(
            f"  {account_id:<9} {(name or '')[:32]:<32} {tier:<9} {score:5.1f} "
            f"({fit:.0f} / {eng:.0f} / {financial})"
        )
    lines += ["", f"Top {top} open leads (score = fit / engagement):"]
    for contact_id, name, title, grade, stage, score, fit, eng in leads:
        lines.append(
            f"  {contact_id:<9} {(name or '')[:24]:<24} {(title or '-')[:28]:<28} {grade} "
            f"{stage:<4} {score:5.1f} ({fit:.0f} / {eng:.0f})"
        )
    lines += ["", "Validation against what happened next (marts.model_validation):"]
    if not validation:
        lines.append("  no cut-offs old enough yet: run `make backtest` (leadscore history)")
    for model, auc, cutoffs, first, last, lift in validation:
        lift_text = f", top-decile lift {lift:.1f}" if lift is not None else ""
        auc_text = f"AUC {auc:.3f}" if auc is not None else "AUC n/a"
        lines.append(
            f"  {model:<21} {auc_text}{lift_text} over {cutoffs} monthly cut-offs ({first}..{last})"
        )
    lines.append(
        "Signals today: "
        + (", ".join(f"{kind} {n:,} ({new:,} new)" for kind, n, new in signals) or "none")
    )
    serving = serving_path()
    published = last_publish()
    when = (
        f"published {published['published_at']:%Y-%m-%d %H:%M} UTC for {published['score_date']}"
        if published
        else "not published yet"
    )
    lines += [
        "",
        f"Serving copy for BI (read-only, {when}): {serving}",
        f"  schema marts: {', '.join(sorted((published or {}).get('tables', {})))}; "
        f"Parquet {current_dir()}/<table>.parquet; see docs/bi.md",
        '  .venv/bin/python -c "import duckdb; print(duckdb.connect('
        f"'{serving}', read_only=True).sql('from marts.lead_scores limit 5'))\"",
    ]
    from leadscore.outputs.report import LATEST, default_reports_dir

    report = default_reports_dir() / LATEST
    lines.append(
        f"HTML report (plots, movers, signals): {report}"
        if report.exists()
        else "HTML report: none yet (`leadscore report` writes it from the serving copy)"
    )
    return "\n".join(lines)
