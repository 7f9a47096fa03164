"""Command line: ``leadscore <command>``. Run ``leadscore --help`` for the list."""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path

from leadscore import config, runlock
from leadscore.progress import command_line_logging


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from err


def _cmd_generate(args: argparse.Namespace) -> int:
    from leadscore.generate import generate

    summary = generate(
        args.out,
        seed=args.seed,
        scale=args.scale,
        end_date=args.end_date,
        days=args.days,
        event_rate=args.event_rate,
    )
    print(
        f"wrote {summary.files:,} files for {summary.start_date}..{summary.end_date} "
        f"under {summary.out_dir}"
    )
    for entity, rows in summary.rows.items():
        print(f"  {entity:<22} {rows:>12,} rows")
    return 0


def _cmd_extract(args: argparse.Namespace) -> int:
    from leadscore.sources import SOURCES
    from leadscore.sources.pull import VENDORS, load_extract_config, pull_and_land

    cfg = load_extract_config()
    plan: list[tuple[str, str | None]] = []  # (source, forced connector)
    for name in args.source or SOURCES:
        if name in VENDORS:
            sources = cfg.sources_of(name)
            if not sources:
                raise ValueError(
                    f"no source is extracted with {name}: set `extract:` in {cfg.path} "
                    f"(e.g. `crm: {name}`), see docs/connectors.md"
                )
            plan += [(source, name) for source in sources]
        else:
            plan.append((name, None))
    if args.start is None and all(cfg.vendor_of(s) is None and v is None for s, v in plan):
        start = _first_landing_day()
    elif args.start is None:
        raise ValueError("an API pull needs --start (the first day to pull)")
    else:
        start = args.start
    with runlock.hold(args.holder):
        print(f"loading {start}..{args.end - timedelta(days=1)} into {config.warehouse_path()}")
        for source, vendor in plan:
            for load in pull_and_land(source, start, args.end, extract_config=cfg, vendor=vendor):
                print(f"  {load.entity:<22} {load.rows:>12,} rows from {load.files:,} files")
    return 0


def _first_landing_day() -> date:
    days = sorted(p.stem for p in config.landing_dir().glob("*/*/*.*") if p.stem[:2] == "20")
    if not days:
        raise ValueError(f"no export files under {config.landing_dir()}; run `leadscore generate`")
    return date.fromisoformat(days[0])


def _cmd_gate(args: argparse.Namespace) -> int:
    from leadscore import quality

    with runlock.hold(args.holder):  # the raw gate moves rows to quarantine
        if args.gate == "raw":
            start = args.start
            end = args.end or start + timedelta(days=1)
            days = [start + timedelta(days=i) for i in range((end - start).days)]
            report = quality.raw_gate(days)
        else:
            report = quality.score_gate(args.date, accept_drift=args.accept_drift)
    print(
        f"{report.gate} gate passed: " + ", ".join(f"{t} {n:,}" for t, n in report.tables.items())
    )
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from leadscore.pipeline import StepFailed, run_interval

    if args.command == "run":
        start, end = args.day, args.day + timedelta(days=1)
    else:
        start, end = args.start, args.end
    try:
        result = run_interval(start, end, accept_drift=args.accept_drift, holder=args.holder)
    except StepFailed as err:
        print(f"error: run for {start}..{end - timedelta(days=1)}: {err}", file=sys.stderr)
        return 1
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.seconds.items())
    print(f"scored {result.score_date} (interval {start}..{end - timedelta(days=1)}): {steps}")
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    from leadscore.pipeline import monthly_cutoffs, score_past_dates

    with runlock.hold(args.holder):
        current = args.current or _last_loaded_day()
        dates = args.date or monthly_cutoffs(current - timedelta(days=1), args.months)
        print(f"scoring {len(dates)} past dates ({dates[0]}..{dates[-1]}), then {current}")
        timings = score_past_dates(dates, current=current)
    print("  " + ", ".join(f"{d} {s:.1f} s" for d, s in timings.items()))
    return 0


def _last_loaded_day() -> date:
    import duckdb

    with duckdb.connect(str(config.warehouse_path()), read_only=True) as con:
        day = con.execute("select max(file_day) from raw.load_log").fetchone()[0]
    if day is None:
        raise ValueError(f"nothing loaded in {config.warehouse_path()}; run `leadscore extract`")
    return day


def _cmd_publish(args: argparse.Namespace) -> int:
    from leadscore.publish import publish

    with runlock.hold(args.holder):  # a run's publish and this one would clean up each other
        report = publish(args.date, force=args.force)
    if report.skipped:
        print(report.skipped)
        return 1
    print(f"published {report.path}: " + ", ".join(f"{t} {n:,}" for t, n in report.tables.items()))
    return 0


def _cmd_unlock(args: argparse.Namespace) -> int:
    cleared = runlock.unlock()
    if cleared is None:
        print(f"nobody holds the warehouse {config.warehouse_path()}")
    else:
        print(
            f"released the warehouse {config.warehouse_path()}: it was held since "
            f"{cleared.since} by pid {cleared.pid} on {cleared.host} ({cleared.holder})"
        )
    return 0


def _cmd_expectations(args: argparse.Namespace) -> int:
    from leadscore.quality import write_expectations

    names = write_expectations()
    print(f"wrote {len(names)} suites with checkpoints to {config.expectations_dir() / 'gx'}")
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    from leadscore.summary import render_summary

    print(render_summary(top=args.top))
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from leadscore.calibrate import calibrate

    with runlock.hold(args.holder):
        result = calibrate(
            horizon_days=args.horizon_days, holdout_cutoffs=args.holdout, write=not args.dry_run
        )
    print("\n".join(result.lines()))
    return 0


def _cmd_adopt(args: argparse.Namespace) -> int:
    from leadscore.calibrate import adopt

    parts = tuple(args.only) if args.only else ("fit", "engagement", "thresholds")
    diff = adopt(args.proposal, parts=parts, dry_run=not args.apply)
    if args.apply:
        print("\n".join(diff) if diff else "nothing to change")
        print("review with git diff, rerun dbt build; the next run's drift check will see it")
    return 0


def _cmd_example(args: argparse.Namespace) -> int:
    from leadscore.examples.bank_marketing_run import run

    result = run(args.out, sample=args.sample, every_months=args.every_months)
    print("\n".join(result.lines()))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from leadscore.outputs.report import render_report

    path = render_report(args.date)
    print(f"report for {path.stem}: {path}")
    return 0


def _cmd_sync_crm(args: argparse.Namespace) -> int:
    from leadscore.outputs.crm_sync import sync_crm

    print(sync_crm(dry_run=args.dry_run, resend=args.resend).summary())
    return 0


def _cmd_notify(args: argparse.Namespace) -> int:
    from leadscore.outputs.notify import notify_signals

    result = notify_signals(args.date, only_new=not args.all, resend=args.resend)
    what = "signals" if args.all else "new signals"
    if result.channels:
        sent = "sent to " + ", ".join(result.channels)
    elif not result.signals:
        sent = "nothing to send"
    elif result.already_sent:
        sent = "every channel already had them (--resend sends them again)"
    else:
        sent = "logged only (no channel configured)"
    print(f"{result.signals:,} {what} for {result.score_date}: {sent}")
    for channel, count in result.already_sent.items():
        print(f"  {channel} already had {count:,} of them: not sent again")
    for name, count in result.counts.items():
        print(f"  {name:<36} {count:>6,}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadscore", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="write deterministic demo exports under data/landing")
    p.add_argument("--out", type=Path, default=None, help="landing root (default data/landing)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--scale", type=float, default=1.0, help="1 = 10k contacts, ~500k events")
    p.add_argument(
        "--event-rate",
        type=float,
        default=1.0,
        help="email and web events per contact, × the demo's (2.7 with --scale 100: 100M events)",
    )
    p.add_argument("--end-date", type=_date, default=date(2026, 11, 20))
    p.add_argument("--days", type=int, default=548)
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser(
        "extract",
        help="pull (API sources) and land the days in [start, end) into raw.* "
        "(initial load, history pull or backfill)",
    )
    p.add_argument(
        "--start",
        type=_date,
        default=None,
        help="first day (default for export files: the earliest export; required for an API)",
    )
    p.add_argument("--end", type=_date, required=True, help="end day (exclusive)")
    p.add_argument(
        "--source",
        action="append",
        help="crm, email or web, or a connector (hubspot, mailchimp) for the sources "
        "sources.yml extracts with it (default: all sources, each as configured)",
    )
    p.set_defaults(func=_cmd_extract)

    p = sub.add_parser("gate", help="run a quality gate by hand")
    gates = p.add_subparsers(dest="gate", required=True)
    g = gates.add_parser("raw", help="raw gate on the days in [start, end)")
    g.add_argument("--start", type=_date, required=True)
    g.add_argument("--end", type=_date, default=None, help="default: start + 1 day")
    g = gates.add_parser("score", help="score gate on the marts")
    g.add_argument("--date", type=_date, required=True, help="the score date the marts are for")
    g.add_argument("--accept-drift", action="store_true", help="skip the drift check")
    p.set_defaults(func=_cmd_gate)

    drift_help = "skip the drift check against the last publish (after an intended rule change)"
    p = sub.add_parser("run", help="score one day without Airflow: extract, gates, dbt, publish")
    p.add_argument("--day", type=_date, required=True, help="the day to land and score")
    p.add_argument("--accept-drift", action="store_true", help=drift_help)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "backfill", help="land the days in [start, end) as one interval, then score the last day"
    )
    p.add_argument("--start", type=_date, required=True)
    p.add_argument("--end", type=_date, required=True, help="end day (exclusive)")
    p.add_argument("--accept-drift", action="store_true", help=drift_help)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "history",
        help="score past dates into score_history (validation cut-offs), then the current day",
    )
    p.add_argument("--months", type=int, default=12, help="monthly cut-offs (default 12)")
    p.add_argument("--date", type=_date, action="append", help="score these dates instead")
    p.add_argument(
        "--current",
        type=_date,
        default=None,
        help="the day to leave the marts at (default: last loaded)",
    )
    p.set_defaults(func=_cmd_history)

    p = sub.add_parser("publish", help="copy the marts to the serving file (after the score gate)")
    p.add_argument("--date", type=_date, required=True, help="the score date the marts are for")
    p.add_argument("--force", action="store_true", help="publish even over newer scores")
    p.set_defaults(func=_cmd_publish)

    p = sub.add_parser(
        "unlock",
        help="release the warehouse lock a DAG run left behind (refused while a process holds it)",
    )
    p.set_defaults(func=_cmd_unlock)

    p = sub.add_parser("expectations", help="rewrite the GX suites and checkpoints from code")
    p.set_defaults(func=_cmd_expectations)

    p = sub.add_parser(
        "calibrate",
        help="propose rule rows and thresholds from history: marts.suggested_rules, "
        "marts.calibration_summary",
    )
    p.add_argument("--holdout", type=int, default=3, help="newest complete cut-offs held out")
    p.add_argument(
        "--horizon-days",
        type=int,
        default=None,
        help="outcome window (days)",
    )
    p.add_argument("--dry-run", action="store_true", help="report only, do not write the tables")
    p.set_defaults(func=_cmd_calibrate)

    p = sub.add_parser(
        "adopt",
        help="rewrite the points seeds and thresholds with a calibration proposal (prints a diff)",
    )
    p.add_argument("proposal", choices=["share", "logistic"])
    p.add_argument(
        "--only",
        choices=["fit", "engagement", "thresholds"],
        action="append",
        help="adopt only this part (repeatable; default: fit, engagement and thresholds)",
    )
    p.add_argument("--apply", action="store_true", help="write the seed (default: only print)")
    p.set_defaults(func=_cmd_adopt)

    p = sub.add_parser(
        "example",
        help="run a documented example end to end (bank-marketing: real people and outcomes)",
    )
    p.add_argument("name", choices=["bank-marketing"])
    p.add_argument("--out", type=Path, default=None, help="work folder (data/examples/<name>)")
    p.add_argument("--sample", type=int, default=None, help="keep about this many people")
    p.add_argument("--every-months", type=int, default=1, help="score every n-th month only")
    p.set_defaults(func=_cmd_example)

    p = sub.add_parser("report", help="write the HTML report of a score date from the serving copy")
    p.add_argument(
        "--date", type=_date, default=None, help="score date (default: the current publish)"
    )
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser(
        "notify", help="log and send the signals of a score date (webhook / email from env)"
    )
    p.add_argument(
        "--date", type=_date, default=None, help="score date (default: the current publish)"
    )
    p.add_argument("--all", action="store_true", help="all signals of the day, not only new ones")
    p.add_argument(
        "--resend",
        action="store_true",
        help="send signals a channel already had (by default each channel gets a signal once)",
    )
    p.set_defaults(func=_cmd_notify)

    p = sub.add_parser(
        "sync-crm",
        help="write the published scores that changed since the last sync onto HubSpot records",
    )
    p.add_argument("--dry-run", action="store_true", help="print what would change; send nothing")
    p.add_argument(
        "--resend",
        action="store_true",
        help="send every record again, whatever the sync log says (after switching accounts)",
    )
    p.set_defaults(func=_cmd_sync_crm)

    p = sub.add_parser("summary", help="print scored contacts, stages, tiers and top entities")
    p.add_argument("--top", type=int, default=10)
    p.set_defaults(func=_cmd_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    command_line_logging()
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.holder = " ".join(["leadscore", *argv])  # what the warehouse lock names as its holder
    if getattr(args, "out", "unset") is None:
        args.out = config.landing_dir()
    try:
        return args.func(args)
    except (RuntimeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
