"""The bad-input catalogue: every broken delivery in tests/bad_inputs ends the way it documents.

Each case directory replaces some of the small world's files for 2026-11-19 (see
tests/bad_inputs/README.md) and says whether the daily run must fail (at which step, with which
message), quarantine rows, or pass. A failed run must leave the serving copy exactly as it was.
Cases that end alike and touch different entities share one run (see shared_deliveries).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from leadscore.publish import last_publish
from leadscore.sources import ENTITIES
from tests.conftest import World, table_contents

CASES_DIR = Path(__file__).parent / "bad_inputs"
DAY = date(2026, 11, 19)
END = date(2026, 11, 20)
MIN_CASES = 20

OUTCOMES = ("fail", "quarantine", "pass")
FAIL_STEPS = ("extract_crm", "extract_email", "extract_web", "raw_gate")
KEYS = {
    "description",
    "outcome",
    "step",
    "message",
    "quarantined",
    "warning",
    "loaded",
    "remove",
    "copy",
    "link",
    "not_in_message",
}
#: Keys only one outcome may use.
OUTCOME_KEYS = {
    "fail": {"step", "message", "not_in_message"},
    "quarantine": {"quarantined"},
    "pass": {"warning"},
}
QUARANTINED_KEYS = {"table", "rows", "reason", "row_numbers"}
LOADED_KEYS = {"table", "where", "column", "value"}
#: Landing paths a case may touch: <source>/<entity>/<day>.<csv|jsonl> of a documented entity.
ENTITY_DIRS = {e.qualified: e for e in ENTITIES}
RAW_TABLES = {e.raw_table: e for e in ENTITIES}
NAME = re.compile(r"^\d{2}_[a-z0-9_]+$")


def case_dirs() -> list[Path]:
    return sorted(p for p in CASES_DIR.iterdir() if p.is_dir())


def load_case(case_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((case_dir / "case.yml").read_text(encoding="utf-8"))


def overlay_files(case_dir: Path) -> list[str]:
    """The committed landing files of a case, relative to the landing root."""
    root = case_dir / "landing"
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def touched_files(case_dir: Path, case: dict[str, Any]) -> list[str]:
    """Every landing path the case replaces, removes or writes by copying."""
    copied = [c["to"] for c in case.get("copy") or []]
    linked = [link["path"] for link in case.get("link") or []]
    return sorted({*overlay_files(case_dir), *(case.get("remove") or []), *copied, *linked})


# --- the catalogue is well formed (fast) --------------------------------------------------------


def _landing_path_problem(path: str, day_only: bool = True) -> str | None:
    parts = path.split("/")
    if len(parts) != 3:
        return f"{path}: not <source>/<entity>/<day>.<ext>"
    e = ENTITY_DIRS.get(f"{parts[0]}/{parts[1]}")
    if e is None:
        return f"{path}: unknown entity {parts[0]}/{parts[1]}"
    stem, _, ext = parts[2].partition(".")
    if ext != e.extension:
        return f"{path}: {e.qualified} files end in .{e.extension}"
    try:
        day = date.fromisoformat(stem)
    except ValueError:
        return f"{path}: {stem!r} is not a day"
    if day_only and day != DAY:
        return f"{path}: cases replace files of {DAY} only"
    return None


def case_problems(case_dir: Path) -> list[str]:
    """What is wrong with one case directory (empty: nothing)."""
    problems: list[str] = []
    if not NAME.match(case_dir.name):
        problems.append("directory name is not NN_short_name")
    stray = {p.name for p in case_dir.iterdir()} - {"case.yml", "landing"}
    if stray:
        problems.append(f"unexpected entries {sorted(stray)} (only case.yml and landing/)")
    if not (case_dir / "case.yml").is_file():
        return [*problems, "case.yml is missing"]
    try:
        case = load_case(case_dir)
    except yaml.YAMLError as err:
        return [*problems, f"case.yml is not YAML: {err}"]
    if not isinstance(case, dict):
        return [*problems, "case.yml is not a mapping"]
    unknown = set(case) - KEYS
    if unknown:
        problems.append(f"unknown keys {sorted(unknown)}; known: {sorted(KEYS)}")
    description = case.get("description")
    if not isinstance(description, str) or not description.strip() or "\n" in description:
        problems.append("description must be one line of text")
    outcome = case.get("outcome")
    if outcome not in OUTCOMES:
        return [*problems, f"outcome {outcome!r} is not one of {', '.join(OUTCOMES)}"]
    for other, keys in OUTCOME_KEYS.items():
        misplaced = keys & set(case) if other != outcome else set()
        if misplaced:
            problems.append(f"{sorted(misplaced)} only go with outcome {other}")

    def regex(value: Any, what: str) -> None:
        if not isinstance(value, str) or not value:
            problems.append(f"{what} must be a non-empty regex string")
            return
        try:
            re.compile(value)
        except re.error as err:
            problems.append(f"{what} {value!r} is not a regex: {err}")

    for path in overlay_files(case_dir):
        problem = _landing_path_problem(path)
        if problem:
            problems.append(f"landing/{problem}")
    remove = case.get("remove") or []
    if not isinstance(remove, list):
        problems.append("remove must be a list of landing paths")
        remove = []
    problems += [p for p in map(_landing_path_problem, remove) if p]
    copy = case.get("copy") or []
    if not isinstance(copy, list) or not all(
        isinstance(c, dict) and set(c) == {"from", "to"} for c in copy
    ):
        problems.append("copy must be a list of {from: <landing path>, to: <landing path>}")
        copy = []
    for c in copy:
        problems += [p for p in (_landing_path_problem(c["from"], day_only=False),) if p]
        problems += [p for p in (_landing_path_problem(c["to"]),) if p]
    link = case.get("link") or []
    if not isinstance(link, list) or not all(
        isinstance(li, dict) and set(li) == {"path", "to"} and Path(str(li["to"])).is_absolute()
        for li in link
    ):
        problems.append("link must be a list of {path: <landing path>, to: <absolute path>}")
        link = []
    problems += [p for p in (_landing_path_problem(li["path"]) for li in link) if p]
    touched = touched_files(case_dir, case)
    if not touched:
        problems.append("the case changes no landing file (landing/, remove or copy)")

    if outcome == "fail":
        if case.get("step") not in FAIL_STEPS:
            problems.append(f"step {case.get('step')!r} is not one of {', '.join(FAIL_STEPS)}")
        messages = case.get("message")
        if not isinstance(messages, list) or not messages:
            problems.append("message must be a non-empty list of regexes")
            messages = []
        for i, m in enumerate(messages):
            regex(m, f"message[{i}]")
        for i, m in enumerate(case.get("not_in_message") or []):
            regex(m, f"not_in_message[{i}]")
        # the message must say which file: some regex spells out a touched path
        spelled = [str(m).replace("\\", "") for m in messages]
        if not any(path in m for path in touched for m in spelled):
            problems.append(f"no message regex names the file ({', '.join(touched)})")
    elif outcome == "quarantine":
        q = case.get("quarantined")
        if not isinstance(q, dict) or not {"table", "rows", "reason"} <= set(q):
            problems.append("quarantined needs table, rows and reason")
        else:
            if set(q) - QUARANTINED_KEYS:
                problems.append(f"quarantined has unknown keys {sorted(set(q) - QUARANTINED_KEYS)}")
            if q["table"] not in RAW_TABLES:
                problems.append(f"quarantined.table {q['table']!r} is not a raw table")
            if not isinstance(q["rows"], int) or q["rows"] < 1:
                problems.append("quarantined.rows must be a positive integer")
            regex(q["reason"], "quarantined.reason")
            numbers = q.get("row_numbers")
            if numbers is not None and (
                not isinstance(numbers, list)
                or len(numbers) != q["rows"]
                or not all(isinstance(n, int) and n >= 1 for n in numbers)
            ):
                problems.append("quarantined.row_numbers must list `rows` file rows (1-based)")
    elif "warning" in case:
        regex(case["warning"], "warning")
    for i, item in enumerate(case.get("loaded") or []):
        if not isinstance(item, dict) or set(item) != LOADED_KEYS:
            problems.append(f"loaded[{i}] needs exactly {sorted(LOADED_KEYS)}")
        elif item["table"] not in RAW_TABLES or not isinstance(item["where"], dict):
            problems.append(f"loaded[{i}]: table must be a raw table and where a mapping")
    if "loaded" in case and outcome == "fail":
        problems.append("loaded only goes with outcomes pass and quarantine")
    return problems


def test_catalogue_is_well_formed():
    dirs = case_dirs()
    assert len(dirs) >= MIN_CASES, f"{len(dirs)} cases in {CASES_DIR}, at least {MIN_CASES}"
    problems = [f"{d.name}: {p}" for d in dirs for p in case_problems(d)]
    assert not problems, "\n".join(problems)
    numbers = [d.name[:2] for d in dirs]
    assert len(set(numbers)) == len(numbers), f"case numbers repeat: {numbers}"


def test_readme_lists_every_case():
    readme = (CASES_DIR / "README.md").read_text(encoding="utf-8")
    missing = [d.name for d in case_dirs() if f"`{d.name}`" not in readme]
    assert not missing, f"tests/bad_inputs/README.md does not list {missing}"


def test_catalogue_covers_every_outcome_and_both_kinds_of_wrong_type():
    cases = {d.name: load_case(d) for d in case_dirs()}
    outcomes = {c["outcome"] for c in cases.values()}
    assert outcomes == set(OUTCOMES)
    # one bad value among many is quarantined; a whole column of the wrong type fails the run
    assert cases["05_wrong_type_value"]["outcome"] == "quarantine"
    assert cases["06_wrong_type_column"]["outcome"] == "fail"


# --- every case ends as documented (slow) -------------------------------------------------------


def apply_case(case_dir: Path, case: dict[str, Any], landing: Path) -> None:
    """Remove, copy, lay the committed files over the world's landing copy, then link."""
    for path in case.get("remove") or []:
        (landing / path).unlink()
    for c in case.get("copy") or []:
        shutil.copyfile(landing / c["from"], landing / c["to"])
    for path in overlay_files(case_dir):
        shutil.copyfile(case_dir / "landing" / path, landing / path)
    for link in case.get("link") or []:
        (landing / link["path"]).unlink(missing_ok=True)
        (landing / link["path"]).symlink_to(link["to"])


def serving_snapshot(serving: Path) -> dict[str, dict[str, list[tuple]]]:
    return {schema: table_contents(serving, schema) for schema in ("marts", "meta")}


def quarantined_on_day(warehouse: Path) -> dict[str, int]:
    """quarantine.<table> -> rows it holds from files of DAY (tables holding none left out)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'quarantine'"
            ).fetchall()
        ]
        counts = {
            f"quarantine.{t}": con.execute(
                f"select count(*) from quarantine.{t} where _file_day = $day", {"day": DAY}
            ).fetchone()[0]
            for t in tables
        }
    return {t: n for t, n in counts.items() if n}


def check_loaded(warehouse: Path, loaded: list[dict[str, Any]]) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for item in loaded:
            where = " and ".join(f'"{k}" = ${k}' for k in item["where"])
            rows = con.execute(
                f'select "{item["column"]}" from {item["table"]} '
                f"where _file_day = $day and {where}",
                {"day": DAY, **{k: str(v) for k, v in item["where"].items()}},
            ).fetchall()
            assert len(rows) == 1, f"{item['table']} {item['where']}: {len(rows)} rows on {DAY}"
            assert str(rows[0][0]) == str(item["value"]), (
                f"{item['table']} {item['where']}.{item['column']}: loaded {rows[0][0]!r}, "
                f"delivered {item['value']!r}"
            )


def check_published(serving_dir: Path, since: datetime) -> None:
    published = last_publish(serving_dir)
    assert published is not None
    assert published["score_date"] == DAY, f"last publish is for {published['score_date']}"
    assert published["published_at"] >= since, "the serving copy was not published by this run"
    scored = {r for rows in table_contents(serving_dir / "scores.duckdb").values() for r in rows}
    assert scored, "the serving copy holds no scores"


# Cases share deliveries: one copy of the world holds the broken files of several cases and runs
# once, then each case checks its own outcome (its own test, named after it). Cases share only
# when they end the same way and touch different entities, so each raw and quarantine table answers
# to one case; a run stopped at extract names only the first broken source, so those run alone.
#: LEADSCORE_TEST_BAD_INPUTS_ALONE=1: every case on its own copy (to tell which case of a shared
#: delivery broke it).
ALONE_ENV = "LEADSCORE_TEST_BAD_INPUTS_ALONE"


def sharing_kind(case: dict[str, Any]) -> str | None:
    """Cases of one kind may share a delivery: those whose run publishes (pass, quarantine) and
    those the raw gate stops (it checks every table, then names each failure). None: alone."""
    if os.environ.get(ALONE_ENV) == "1":
        return None
    if case["outcome"] in ("pass", "quarantine"):
        return "publishes"
    return "raw_gate" if case["step"] == "raw_gate" else None


def touched_tables(case_dir: Path, case: dict[str, Any]) -> set[str]:
    """The raw tables of the entities whose files the case changes."""
    return {
        ENTITY_DIRS["/".join(path.split("/")[:2])].raw_table
        for path in touched_files(case_dir, case)
    }


def shared_deliveries(dirs: list[Path]) -> list[list[Path]]:
    """The cases packed into deliveries, first fit in case order (see above)."""
    deliveries: list[tuple[str | None, set[str], list[Path]]] = []
    for case_dir in dirs:
        case = load_case(case_dir)
        kind, tables = sharing_kind(case), touched_tables(case_dir, case)
        for other_kind, taken, members in deliveries:
            if kind is not None and kind == other_kind and not taken & tables:
                taken |= tables
                members.append(case_dir)
                break
        else:
            deliveries.append((kind, set(tables), [case_dir]))
    return [members for _, _, members in deliveries]


@dataclass
class Delivery:
    """One run of DAY on a copy of the small world holding the broken files of ``cases``."""

    cases: list[Path]
    world: World
    before: dict[str, dict[str, list[tuple]]]  # the serving copy before the run
    started: datetime
    result: Any = None  # RunResult of a run that passed
    failed: Any = None  # StepFailed of a run that failed

    def context(self, case_dir: Path) -> str:
        """For assertion messages: the other cases of the delivery, if any."""
        others = [d.name for d in self.cases if d != case_dir]
        if not others:
            return ""
        return f" (delivery shared with {', '.join(others)}; {ALONE_ENV}=1 runs each case alone)"

    def quarantine_expected(self) -> dict[str, int]:
        """raw table -> rows the quarantine cases of this delivery move."""
        cases = [load_case(d) for d in self.cases]
        return {
            c["quarantined"]["table"]: c["quarantined"]["rows"]
            for c in cases
            if c["outcome"] == "quarantine"
        }


def run_delivery(cases: list[Path], small_world: World, dbt, root: Path) -> Delivery:
    from leadscore.pipeline import StepFailed, run_interval

    world = small_world.copy(root / "world")
    for case_dir in cases:
        apply_case(case_dir, load_case(case_dir), world.landing)
    delivery = Delivery(
        cases, world, serving_snapshot(world.serving / "scores.duckdb"), datetime.now(UTC)
    )
    time.sleep(0.01)  # publish times are compared with `started`
    with pytest.MonkeyPatch.context() as mp:
        world.activate(mp)
        try:
            delivery.result = run_interval(DAY, END, dbt=dbt)
        except StepFailed as failed:
            delivery.failed = failed
    return delivery


@pytest.fixture(scope="module")
def delivery_of(small_world, in_process_dbt, tmp_path_factory):
    """case directory -> its Delivery, run the first time one of its cases asks."""
    deliveries = shared_deliveries(case_dirs())
    index = {d: i for i, members in enumerate(deliveries) for d in members}
    runs: dict[int, Delivery] = {}

    def get(case_dir: Path) -> Delivery:
        i = index[case_dir]
        if i not in runs:
            root = tmp_path_factory.mktemp(f"delivery-{case_dir.name}")
            runs[i] = run_delivery(deliveries[i], small_world, in_process_dbt, root)
        return runs[i]

    return get


def test_deliveries_share_only_cases_that_end_alike_on_other_entities():
    """The packing itself: what makes a shared run's checks as specific as a run per case."""
    deliveries = shared_deliveries(case_dirs())
    assert sorted(d for members in deliveries for d in members) == case_dirs()
    for members in deliveries:
        cases = {d.name: load_case(d) for d in members}
        kinds = {sharing_kind(c) for c in cases.values()}
        assert len(members) == 1 or (len(kinds) == 1 and None not in kinds), cases
        tables = [t for d in members for t in touched_tables(d, cases[d.name])]
        assert len(tables) == len(set(tables)), f"{list(cases)} touch one entity twice"


def own_failures(message: str, tables: set[str]) -> str:
    """The failures of a raw gate message that are about ``tables`` (one per `  - ` item)."""
    items = message.split("\n  - ")[1:]
    return "\n  - ".join(i for i in items if any(i.startswith(f"{t} (") for t in tables))


@pytest.mark.slow
@pytest.mark.parametrize("case_dir", case_dirs(), ids=lambda d: d.name)
def test_bad_input(case_dir: Path, delivery_of):
    case = load_case(case_dir)
    delivery = delivery_of(case_dir)
    world, shared = delivery.world, delivery.context(case_dir)
    serving = world.serving / "scores.duckdb"

    if case["outcome"] == "fail":
        assert delivery.failed is not None, f"the run did not fail{shared}"
        message = str(delivery.failed)
        assert delivery.failed.step == case["step"], message + shared
        # in a shared delivery the case's regexes must match its own tables' failures
        own = own_failures(message, touched_tables(case_dir, case)) if shared else message
        unmatched = [rx for rx in case["message"] if not re.search(rx, own)]
        assert not unmatched, f"message lacks {unmatched}{shared}:\n{message}"
        shown = [rx for rx in case.get("not_in_message") or [] if re.search(rx, message)]
        assert not shown, f"message shows {shown}:\n{message}"
        assert serving_snapshot(serving) == delivery.before, "a failed run changed the serving copy"
        assert quarantined_on_day(world.warehouse) == {}, "a failed run quarantined rows"
        return

    assert delivery.failed is None, f"the run failed{shared}: {delivery.failed}"
    report = delivery.result.details["raw_gate"]
    check_published(world.serving, delivery.started)
    check_loaded(world.warehouse, case.get("loaded") or [])
    # exactly what the delivery's quarantine cases move, nothing more (none of it this case's
    # unless it is a quarantine case: cases of a delivery touch different tables)
    expected_all = delivery.quarantine_expected()
    assert report.quarantined == expected_all, (
        f"quarantined {report.quarantined}, expected {expected_all}{shared}: {report.warnings}"
    )
    assert quarantined_on_day(world.warehouse) == {
        RAW_TABLES[t].quarantine_table: n for t, n in expected_all.items()
    }, shared

    if case["outcome"] == "pass":
        assert not touched_tables(case_dir, case) & set(report.quarantined), report.warnings
        if "warning" in case:
            assert any(re.search(case["warning"], w) for w in report.warnings), report.warnings
        return

    expected = case["quarantined"]
    entity = RAW_TABLES[expected["table"]]
    assert report.quarantined[expected["table"]] == expected["rows"], report.warnings
    assert any(
        w.startswith(f"{entity.raw_table} ") and "quarantined:" in w for w in report.warnings
    ), report.warnings
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        moved = con.execute(
            f"""select _source_file, _row_number, _reason from {entity.quarantine_table}
            where _file_day = $day order by _row_number""",
            {"day": DAY},
        ).fetchall()
        for _, row, reason in moved:
            assert re.search(expected["reason"], reason), f"row {row}: reason {reason!r}"
        if "row_numbers" in expected:
            assert [r[1] for r in moved] == expected["row_numbers"]
        still_raw = con.execute(
            f"""select count(*) from {entity.raw_table} as r
            where r._file_day = $day and exists (
                select 1 from {entity.quarantine_table} as q
                where q._file_day = $day and q._source_file = r._source_file
                and q._row_number = r._row_number)""",
            {"day": DAY},
        ).fetchone()[0]
        assert still_raw == 0, "quarantined rows are still in the raw table"
        kept = con.execute(
            f"select count(*) from {entity.raw_table} where _file_day = $day", {"day": DAY}
        ).fetchone()[0]
    delivered = sum(1 for _ in _records(world.landing, entity))
    assert kept == delivered - expected["rows"], f"raw keeps {kept} of {delivered} rows"


def _records(landing: Path, entity) -> list[Any]:
    """The records of the entity's file for DAY, as delivered."""
    import csv
    import io

    path = landing / entity.source / entity.name / f"{DAY.isoformat()}.{entity.extension}"
    text = path.read_text(encoding="utf-8-sig")
    if entity.file_format == "csv":
        return list(csv.DictReader(io.StringIO(text, newline="")))
    return [line for line in text.splitlines() if line.strip()]
