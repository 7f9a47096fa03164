"""Long work reports how far along it is: log lines when stderr is not a terminal (a task log,
CI), nothing when switched off."""

from __future__ import annotations

import logging

from leadscore import progress


def test_without_a_terminal_progress_is_logged_with_counts(monkeypatch, caplog):
    monkeypatch.setattr(progress, "LOG_EVERY_SECONDS", 0.0)
    outer = progress.counter("other work still open", total=9)  # tqdm would stack the two
    with caplog.at_level(logging.INFO, logger="leadscore.progress"):
        assert list(progress.track(range(4), "writing files", unit="days")) == [0, 1, 2, 3]
    outer.close()
    logged = [r.getMessage() for r in caplog.records if r.name == "leadscore.progress"]
    assert all(line.isprintable() for line in logged), "no terminal control sequences"
    lines = [line for line in logged if line.startswith("writing files")]
    assert lines[0].startswith("writing files:   0% 0/4")
    assert lines[-1].startswith("writing files: 100% 4/4") and "days/s" in lines[-1]
    assert len(lines) == len(set(lines)), "the final state is logged once"


def test_a_counter_without_a_total_counts_up(monkeypatch, caplog):
    monkeypatch.setattr(progress, "LOG_EVERY_SECONDS", 0.0)
    with (
        caplog.at_level(logging.INFO, logger="leadscore.progress"),
        progress.counter("pulling", unit="pages") as done,
    ):
        done.update(3)
    assert caplog.records[-1].getMessage().startswith("pulling: 3 pages")


def test_progress_can_be_switched_off(monkeypatch, caplog):
    monkeypatch.setenv("LEADSCORE_PROGRESS", "off")
    with caplog.at_level(logging.INFO, logger="leadscore.progress"):
        assert list(progress.track([1, 2], "quiet")) == [1, 2]
    assert not [r for r in caplog.records if r.name == "leadscore.progress"]


def test_the_command_line_shows_progress_lines(monkeypatch, tmp_path, caplog):
    """``leadscore generate`` (its logging shows warnings only) logs its progress lines."""
    from leadscore.cli import main

    monkeypatch.setattr(progress, "LOG_EVERY_SECONDS", 0.0)
    out = tmp_path / "landing"
    assert main(["generate", "--out", str(out), "--scale", "0.01", "--days", "5"]) == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "leadscore.progress"]
    assert any(line.startswith("writing the landing files: 100%") for line in lines), lines
