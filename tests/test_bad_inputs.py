"""The bad-input catalogue: every broken delivery in tests/bad_inputs ends the way it documents.

Each case directory replaces some of the small world's files for 2026-11-19 (see
tests/bad_inputs/README.md) and says whether the daily run must fail (at which step, with which
message), quarantine rows, or pass. A failed run must leave the serving copy exactly as it was.
"""

from __future__ import annotations

import re
import shutil
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from leadscore.publish import last_publish
from leadscore.sources import ENTITIES
from tests.conftest import table_contents

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


@pytest.mark.slow
@pytest.mark.parametrize("case_dir", case_dirs(), ids=lambda d: d.name)
def test_bad_input(case_dir: Path, small_world, in_process_dbt, tmp_path, monkeypatch):
    from leadscore.pipeline import StepFailed, run_interval

    case = load_case(case_dir)
    world = small_world.copy(tmp_path / "world").activate(monkeypatch)
    apply_case(case_dir, case, world.landing)
    serving = world.serving / "scores.duckdb"
    before = serving_snapshot(serving)
    started = datetime.now(UTC)
    time.sleep(0.01)  # publish times are compared with `started`

    if case["outcome"] == "fail":
        with pytest.raises(StepFailed) as failed:
            run_interval(DAY, END, dbt=in_process_dbt)
        message = str(failed.value)
        assert failed.value.step == case["step"], message
        unmatched = [rx for rx in case["message"] if not re.search(rx, message)]
        assert not unmatched, f"message lacks {unmatched}:\n{message}"
        shown = [rx for rx in case.get("not_in_message") or [] if re.search(rx, message)]
        assert not shown, f"message shows {shown}:\n{message}"
        assert serving_snapshot(serving) == before, "a failed run changed the serving copy"
        assert quarantined_on_day(world.warehouse) == {}, "a failed run quarantined rows"
        return

    result = run_interval(DAY, END, dbt=in_process_dbt)
    report = result.details["raw_gate"]
    check_published(world.serving, started)
    check_loaded(world.warehouse, case.get("loaded") or [])

    if case["outcome"] == "pass":
        assert report.quarantined == {}, report.warnings
        assert quarantined_on_day(world.warehouse) == {}
        if "warning" in case:
            assert any(re.search(case["warning"], w) for w in report.warnings), report.warnings
        return

    expected = case["quarantined"]
    entity = RAW_TABLES[expected["table"]]
    assert report.quarantined == {expected["table"]: expected["rows"]}, report.warnings
    assert quarantined_on_day(world.warehouse) == {entity.quarantine_table: expected["rows"]}
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
