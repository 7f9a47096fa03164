"""Measure the connectors on a demo world: request counts of a first and an incremental pull, and
the write-back's requests for one day against the contacts whose scores changed.

    .venv/bin/python -m tests.measure_connectors [--scale 1.0] [--days 60] [--min-score-change 1]
    .venv/bin/python -m tests.measure_connectors --first-pull 100000

The demo generator's exports are replayed into the local fake HubSpot and Mailchimp
(``tests/fakes/from_world.py``) on 127.0.0.1. The history up to the day before last is pulled
(``leadscore extract``), then the last two days are run (``leadscore run``: pull, gates, dbt,
publish, write-back) and counted from the fakes' request logs. Nothing leaves 127.0.0.1.

``--first-pull N`` measures only HubSpot's first pull of an account of N contacts (N/5 companies,
N/3 deals, every property; ``FakeHubSpot.sample``): its requests, and the time they take at
HubSpot's documented rates (5 searches and 10 other requests a second). The fake answers
without the connector's throttle.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from leadscore.generate import generate
from tests.fakes.from_world import SOURCES_YML, accounts_from_landing, connector_env, writes_for
from tests.fakes.server import FakeApi

HUBSPOT_TOKEN = "pat-na1-measure0-aaaa-bbbb-cccc-ddddeeeeffff"
MAILCHIMP_KEY = "fedcba9876543210fedcba9876543210-us21"


def _kinds(log: list, since: int) -> Counter:
    return Counter(
        f"{r.method} {r.path.split('/')[3] if r.path.count('/') > 2 else r.path}"
        for r in log[since:]
    )


def first_pull(contacts: int) -> None:
    from leadscore.sources import entity
    from leadscore.sources import hubspot as hs
    from tests.fakes.hubspot_crm import FakeHubSpot

    start = datetime(2026, 11, 18, tzinfo=UTC)
    began = time.perf_counter()
    fake = FakeHubSpot.sample(start, contacts=contacts)
    sizes = {obj: len(records) for obj, records in fake.objects.items()}
    print(f"account: {sizes} ({time.perf_counter() - began:.0f} s to build)")
    hs.SEARCH_REQUESTS_PER_SECOND = hs.REQUESTS_PER_SECOND = 0.0  # timed below, at the limits
    root = Path(tempfile.mkdtemp(prefix="leadscore-first-pull-"))
    crm = [entity("crm/companies"), entity("crm/contacts"), entity("crm/deals")]
    with FakeApi(fake.routes(), check_auth=fake.check_auth) as server:
        os.environ["LEADSCORE_HUBSPOT_TOKEN"] = fake.token
        os.environ["LEADSCORE_HUBSPOT_BASE_URL"] = server.url
        began = time.perf_counter()
        result = hs.pull(
            crm,
            start,
            start + timedelta(days=1),
            landing=root / "landing",
            warehouse=root / "warehouse.duckdb",
            settings={},
        )
        took = time.perf_counter() - began
        searches = sum(r.path.endswith("/search") for r in server.log)
    others = len(server.log) - searches
    at_limits = searches / 5 + others / 10
    print(
        f"first pull of {contacts:,} contacts: {len(server.log):,} requests ({searches:,} "
        f"searches, {others:,} other) in {took:.0f} s against the fake; at HubSpot's documented "
        f"limits {at_limits:.0f} s; records {result.records}"
    )
    assert not fake.contract_errors, fake.contract_errors[:3]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 20))
    parser.add_argument("--first-pull", type=int, metavar="CONTACTS")
    parser.add_argument(
        "--min-score-change", type=float, default=0, help="the write-back's setting (points)"
    )
    args = parser.parse_args(argv)
    if args.first_pull:
        first_pull(args.first_pull)
        return

    from leadscore.cli import main as leadscore

    root = Path(tempfile.mkdtemp(prefix="leadscore-connectors-"))
    first = args.end - timedelta(days=args.days - 1)
    began = time.perf_counter()
    generate(root / "generated", seed=42, scale=args.scale, end_date=args.end, days=args.days)
    accounts = accounts_from_landing(
        root / "generated", args.end, hubspot_token=HUBSPOT_TOKEN, mailchimp_key=MAILCHIMP_KEY
    )
    print(
        f"world: {len(accounts.ids['contacts']):,} contacts, {len(accounts.ids['companies']):,} "
        f"companies, {len(accounts.ids['deals']):,} deals ({time.perf_counter() - began:.0f} s)"
    )
    writes = writes_for(accounts)
    sources_yml = SOURCES_YML + f"  min_score_change: {args.min_score_change}\n"
    (root / "sources.yml").write_text(sources_yml, encoding="utf-8")
    data = root / "data"
    with (
        FakeApi(writes.routes() + accounts.hubspot.routes(), check_auth=writes.check_auth) as hub,
        FakeApi(accounts.mailchimp.routes()) as mc,
    ):
        os.environ.update(
            connector_env(
                data,
                root / "sources.yml",
                hubspot_url=hub.url,
                mailchimp_url=mc.url,
                accounts=accounts,
            )
        )
        last, before = args.end, args.end - timedelta(days=1)
        for vendor, server in (("hubspot", hub), ("mailchimp", mc)):
            mark, began = len(server.log), time.perf_counter()
            leadscore(["extract", "--source", vendor, "--start", str(first), "--end", str(before)])
            print(
                f"first pull, {vendor}, {first}..{before - timedelta(days=1)}: "
                f"{len(server.log) - mark:,} requests in {time.perf_counter() - began:.1f} s "
                f"{dict(_kinds(server.log, mark))}"
            )
        for day in (before, last):
            marks = {"hub": len(hub.log), "mc": len(mc.log), "batches": len(writes.batches)}
            began = time.perf_counter()
            assert leadscore(["run", "--day", str(day)]) == 0, f"the run of {day} failed"
            pulls = [
                r
                for r in hub.log[marks["hub"] :]
                if "/batch/update" not in r.path and "/properties/" not in r.path
            ]
            sync = [r for r in hub.log[marks["hub"] :] if r not in pulls]
            sent = sum(len(ids) for _, ids in writes.batches[marks["batches"] :])
            print(
                f"run {day} ({time.perf_counter() - began:.0f} s): incremental pull "
                f"hubspot {len(pulls):,} + mailchimp {len(mc.log) - marks['mc']:,} requests; "
                f"write-back {len(sync):,} requests, {sent:,} records sent"
            )
        with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
            changed, whole_point = con.execute(
                """
                select
                    count(*),
                    count(*) filter (
                        where abs(today.score - before.score) >= 1
                            or today.grade is distinct from before.grade
                            or today.stage is distinct from before.stage
                    )
                from marts.score_history as today
                join marts.score_history as before
                    on before.entity_id = today.entity_id
                    and before.entity_type = today.entity_type
                    and before.score_date = ? and today.score_date = ?
                where today.entity_type = 'contact'
                    and (today.score is distinct from before.score
                         or today.grade is distinct from before.grade
                         or today.stage is distinct from before.stage)
                """,
                [before, last],
            ).fetchone()
        print(
            f"contacts whose score, grade or stage changed on {last}: {changed:,} "
            "(top reasons changes are sent too); by a whole point or more, or in grade or stage "
            f"(what min_score_change: 1 would send, from one day's moves): {whole_point:,}"
        )


if __name__ == "__main__":
    main()
