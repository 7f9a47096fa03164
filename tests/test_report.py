"""The HTML report: read from the serving copy only, self-contained, plots that match the tables.

The slow tests render the small world's real serving copy (and copies of it with rows added:
validation results, score changes, signals with markup in their reason); the fast ones check the
SVG helpers on their own.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from leadscore.outputs import report
from leadscore.publish import SERVING_FILE
from tests.conftest import BASELINE_DAY, writable_serving_copy

slow = pytest.mark.slow


class Page(HTMLParser):
    """What a test needs from a report page: per section its SVG elements, tables and text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.section: str | None = None
        self.svgs: dict[str | None, list[list[dict]]] = defaultdict(list)
        self.tables: dict[str | None, list[list[list[str]]]] = defaultdict(list)
        self.text: dict[str | None, list[str]] = defaultdict(list)
        self.counts: dict[str, str] = {}
        self.tags: Counter[str] = Counter()
        self.attrs: list[dict] = []
        self._svg: list[dict] | None = None
        self._title_of: dict | None = None
        self._cell: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        a["class"] = set(a.get("class", "").split())
        self.tags[tag] += 1
        self.attrs.append(a)
        if tag == "section":
            self.section = a.get("id")
        elif tag == "svg":
            self._svg = []
            self.svgs[self.section].append(self._svg)
        elif self._svg is not None:
            element = {"tag": tag, **a}
            if tag == "title":
                self._title_of = self._svg[-1] if self._svg else None
            else:
                self._svg.append(element)
        if "data-count" in a:
            self.counts[a["data-count"]] = a["data-value"]
        if tag == "table":
            self.tables[self.section].append([])
        elif tag == "tr":
            self.tables[self.section][-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._svg = None
        elif tag == "section":
            self.section = None
        elif tag == "title":
            self._title_of = None
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[self.section][-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text[self.section].append(data)
        if self._title_of is not None:
            self._title_of["title"] = self._title_of.get("title", "") + data
        if self._cell is not None:
            self._cell.append(data)

    def elements(self, section: str, index: int, tag: str, css: str = "") -> list[dict]:
        return [
            e
            for e in self.svgs[section][index]
            if e["tag"] == tag and set(css.split()) <= e["class"]
        ]

    def section_text(self, section: str) -> str:
        return " ".join(" ".join(self.text[section]).split())

    def body_rows(self, section: str, index: int) -> list[list[str]]:
        return self.tables[section][index][1:]  # without the header row


def test_nice_axis_rounds_up_to_round_ticks():
    assert report.nice_axis(1755, integer=True) == [0, 500, 1000, 1500, 2000]
    assert report.nice_axis(7, integer=True) == [0, 2, 4, 6, 8]
    assert report.nice_axis(0.035) == [0, 0.01, 0.02, 0.03, 0.04]
    assert report.nice_axis(0) == [0, 0.25, 0.5, 0.75, 1.0]


def test_histogram_draws_one_bar_per_bin_and_the_markers():
    svg = report.histogram(
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        title="t <x>",
        markers=[report.Marker(50, "MQL 50"), report.Marker(80, "SQL 80")],
    )
    page = Page(f'<section id="s">{svg}</section>')
    bins = page.elements("s", 0, "rect", "bar")
    assert len(bins) == 10
    assert [b["title"] for b in bins][-1] == "[90, 100]: 9"
    heights = [float(b["height"]) for b in bins]
    assert heights[0] == 0 and heights == sorted(heights)
    lines = page.elements("s", 0, "line", "threshold")
    assert len(lines) == 2
    # the MQL line sits half way along the x axis, the SQL line at 80 %
    x0, x100 = float(bins[0]["x"]) - 0.5, float(bins[-1]["x"]) + float(bins[-1]["width"]) + 0.5
    assert float(lines[0]["x1"]) == pytest.approx(x0 + 0.5 * (x100 - x0), abs=0.2)
    assert float(lines[1]["x1"]) == pytest.approx(x0 + 0.8 * (x100 - x0), abs=0.2)
    assert "t &lt;x&gt;" in svg and "<x>" not in svg


def test_column_and_bar_charts_escape_labels_and_scale_bars():
    svg = report.column_chart(
        ["<b>", "b"],
        [report.Series("one", [1, 4], "s0"), report.Series("two", [2, 0], "s1")],
        title="c",
    )
    page = Page(f'<section id="s">{svg}</section>')
    bars = page.elements("s", 0, "rect", "bar")
    assert len(bars) == 4
    assert bars[0]["title"] == "<b>, one: 1"
    heights = [float(b["height"]) for b in bars]
    assert heights == pytest.approx([heights[0], 2 * heights[0], 4 * heights[0], 0])
    assert "<b>" not in svg

    svg = report.hbar_chart(
        [report.HBar("up", 4, "rise"), report.HBar("down", -2, "fall")],
        title="h",
        diverging=True,
    )
    page = Page(f'<section id="s">{svg}</section>')
    up, down = page.elements("s", 0, "rect", "bar")
    assert float(up["width"]) == pytest.approx(2 * float(down["width"]))
    assert float(down["x"]) + float(down["width"]) == pytest.approx(float(up["x"]))


def test_missing_serving_copy_is_a_clear_error(tmp_path):
    with pytest.raises(report.ReportError, match="no serving copy"):
        report.render_report(serving_dir=tmp_path / "nowhere", reports_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


# --- on the small world's serving copy ---------------------------------------------------------


@pytest.fixture
def serving(small_world, tmp_path) -> Path:
    """A writable copy of the small world's published serving file (the original is 0444)."""
    folder = tmp_path / "serving"
    writable_serving_copy(small_world.serving, folder)
    return folder


def edit(serving: Path, *statements: tuple[str, list | None] | str) -> None:
    with duckdb.connect(str(serving / SERVING_FILE)) as con:
        for statement in statements:
            sql, params = (statement, None) if isinstance(statement, str) else statement
            if params and isinstance(params[0], list | tuple):
                con.executemany(sql, params)
            else:
                con.execute(sql, params)


def query(serving: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(serving / SERVING_FILE), read_only=True) as con:
        return con.execute(sql).fetchall()


def render(serving: Path, tmp_path: Path, day: date | None = None) -> tuple[Path, Page]:
    path = report.render_report(day, serving_dir=serving, reports_dir=tmp_path / "reports")
    return path, Page(path.read_text(encoding="utf-8"))


@slow
def test_report_of_the_published_copy(serving, tmp_path):
    path, page = render(serving, tmp_path)

    assert path == tmp_path / "reports" / f"{BASELINE_DAY}.html"
    latest = path.with_name("latest.html")
    assert latest.read_bytes() == path.read_bytes()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, "latest.html"]
    raw = path.read_text(encoding="utf-8")
    # self-contained: no script, nothing loaded from elsewhere
    assert page.tags["script"] == 0 and "http://" not in raw and "https://" not in raw
    assert not any(a.get("src") or a.get("href", "#").split("#")[0] for a in page.attrs)

    # header: what the tables hold
    [(contacts, mql, sql_, customers)] = query(
        serving,
        """select count(*), count(*) filter (where lifecycle_stage = 'MQL'),
            count(*) filter (where lifecycle_stage = 'SQL'),
            count(*) filter (where lifecycle_stage = 'customer') from marts.lead_scores""",
    )
    assert page.counts["contacts"] == str(contacts)
    assert (page.counts["MQL"], page.counts["SQL"]) == (str(mql), str(sql_))
    assert page.counts["customers"] == str(customers)
    tiers = dict(query(serving, "select tier, count(*) from marts.account_scores group by tier"))
    assert {k[5:]: int(v) for k, v in page.counts.items() if k.startswith("tier:")} == tiers
    [(published_at,)] = query(
        serving,
        """select strftime(max(published_at) at time zone 'UTC', '%Y-%m-%d %H:%M:%S')
        from meta.publish_log""",
    )
    assert f"published {published_at} UTC" in " ".join(page.text[None])
    stage_bars = page.elements("overview", 0, "rect", "bar")
    assert len(stage_bars) == 4

    # distributions: 10 bins each, counts as in the tables, thresholds marked on the lead score
    lead_bins = page.elements("distributions", 0, "rect", "bin")
    account_bins = page.elements("distributions", 1, "rect", "bin")
    assert len(lead_bins) == len(account_bins) == 10

    def bins(sql: str) -> list[int]:
        counts = [0] * 10
        for (score,) in query(serving, sql):
            counts[min(int(score // 10), 9)] += 1
        return counts

    def drawn(rects: list[dict]) -> list[int]:
        return [int(r["title"].split(": ")[1].replace(",", "")) for r in rects]

    assert drawn(lead_bins) == bins(
        "select lead_score from marts.lead_scores where lifecycle_stage != 'customer'"
    )
    assert drawn(account_bins) == bins("select account_score from marts.account_scores")
    thresholds = page.elements("distributions", 0, "line", "threshold")
    assert sorted(t["title"] for t in thresholds) == ["MQL 50", "SQL 80"]
    assert not page.elements("distributions", 1, "line", "threshold")

    # accounts per tier: customers and prospects per tier
    assert len(page.elements("tiers", 0, "rect", "bar")) == 2 * len(tiers)
    customers = query(
        serving,
        "select tier, count(*) filter (where is_customer) from marts.account_scores group by 1",
    )
    drawn_customers = [b["title"] for b in page.elements("tiers", 0, "rect", "bar customer")]
    assert sorted(drawn_customers) == sorted(f"{t}, customers: {n}" for t, n in customers)

    # the small world has no validation cut-offs and one history date
    assert "leadscore history --months 12" in page.section_text("validation")
    assert not page.svgs["validation"]
    assert "No earlier scores to compare with" in page.section_text("movers")
    assert not page.svgs["movers"]

    # signals: a bar per signal, a row per signal of the day
    signals = query(
        serving,
        f"""select signal_type, signal, count(*) from marts.score_signals
        where score_date = '{BASELINE_DAY}' group by all""",
    )
    assert len(page.elements("signals", 0, "rect", "bar")) == len(signals)
    rows = sum(len(page.body_rows("signals", i)) for i in range(len(page.tables["signals"])))
    assert rows == sum(n for *_, n in signals)


@slow
def test_validation_movers_and_signals_when_the_tables_have_rows(serving, tmp_path):
    day = BASELINE_DAY
    deciles = [(str(d), 100, 11 - d, (11 - d) / 100, (11 - d) / 5.5) for d in range(1, 11)]
    validation = (
        [("lead_conversion", "all", "all", 1000, 55, 0.055, 1.0, 0.812)]
        + [("lead_conversion", "decile", *row, None) for row in deciles]
        + [
            ("lead_conversion", "stage", "lead", 800, 8, 0.01, 0.18, None),
            ("lead_conversion", "stage", "SQL", 50, 20, 0.4, 7.3, None),
            ("lead_conversion", "stage", "MQL", 150, 27, 0.18, 3.3, None),
            ("account_retention", "all", "all", 40, 36, 0.9, 1.0, 0.7),
            ("account_retention", "decile", "1", 4, 4, 1.0, 1.11, None),
            ("account_retention", "tier", "Growth", 20, 18, 0.9, 1.0, None),
            ("account_retention", "tier", "Strategic", 10, 10, 1.0, 1.11, None),
            ("account_retention", "tier", "Evaluate", 10, 8, 0.8, 0.89, None),
        ]
    )
    reason = '<script>alert("x")</script> & <b>bold</b>'
    edit(
        serving,
        (
            f"""insert into marts.model_validation (score_date, model, band_type, band,
                entities, positives, rate, lift, auc, cutoffs, first_cutoff, last_cutoff) values
            ('{day}', ?, ?, ?, ?, ?, ?, ?, ?, 9, '2025-12-01', '2026-08-01')""",
            validation,
        ),
        # an older validation run: the report shows the newest
        f"""insert into marts.model_validation (score_date, model, band_type, band, auc)
            values ('{day}'::date - 30, 'lead_conversion', 'all', 'all', 0.5)""",
        # distinct changes for every entity of the day: -50 .. +49.9
        f"""update marts.score_history h set score_change_7d = v.change
        from (select entity_type, entity_id,
                (row_number() over (order by entity_type, entity_id)) * 7919 % 1000 / 10 - 50
                as change
            from marts.score_history where score_date = '{day}') v
        where h.entity_type = v.entity_type and h.entity_id = v.entity_id
            and h.score_date = '{day}'""",
        (
            """insert into marts.score_signals (score_date, signal_type, signal, entity_type,
                entity_id, account_id, signal_value, threshold, reason, owner, queue, is_new)
            values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                (
                    day,
                    "handover",
                    "crossed_sql",
                    "contact",
                    "PX1",
                    "CX1",
                    85,
                    80,
                    reason,
                    "ae@example.com",
                    "<queue>",
                    True,
                ),
                (
                    day,
                    "risk",
                    "score_drop",
                    "account",
                    "CX2",
                    "CX2",
                    30,
                    40,
                    "repeated",
                    None,
                    None,
                    False,
                ),
            ],
        ),
    )
    path, page = render(serving, tmp_path)
    raw = path.read_text(encoding="utf-8")

    # validation: three charts, the numbers of the newest run
    decile_bars = page.elements("validation", 0, "rect", "bar")
    assert [b["title"] for b in decile_bars][:2] == ["1: 10.0%", "2: 9.0%"]
    assert len(decile_bars) == 10
    assert len(page.elements("validation", 0, "line", "baseline")) == 2  # line and its legend
    stage_bars = page.elements("validation", 1, "rect", "bar")
    assert [b["title"].split(":")[0] for b in stage_bars] == ["lead", "MQL", "SQL"]
    assert len(page.elements("validation", 2, "rect", "bar")) == 3
    assert page.counts["auc:lead_conversion"] == "0.812"
    assert page.counts["lift:lead_conversion"] == "×1.82"
    assert page.counts["auc:account_retention"] == "0.700"
    assert page.body_rows("validation", 0)[0] == ["1", "100", "10", "10.0%", "×1.82"]

    # movers: the 10 biggest rises and falls of the 7-day change, contacts and accounts apart
    contact_rises, contact_falls, account_rises, account_falls = page.tables["movers"]
    for figure_index, (kind, rises, falls) in enumerate(
        (("contact", contact_rises, contact_falls), ("account", account_rises, account_falls))
    ):
        changes = query(
            serving,
            f"""select entity_id, score_change_7d from marts.score_history
            where score_date = '{day}' and entity_type = '{kind}'
            order by score_change_7d desc""",
        )
        assert len(changes) > 20
        assert rises[0][:2] == ([kind, "account"] if kind == "contact" else [kind, "tier"])
        assert [r[0] for r in rises[1:]] == [e for e, _ in changes[:10]]
        assert [r[0] for r in falls[1:]] == [e for e, _ in reversed(changes[-10:])]
        assert len(page.elements("movers", figure_index, "rect", "rise")) == 10
        assert len(page.elements("movers", figure_index, "rect", "fall")) == 10
    text = page.section_text("movers")
    assert "Top movers (7 days)" in text
    assert text.index("Contacts (lead score)") < text.index("Accounts (account score)")

    # signals: escaped, new ones marked, handovers first
    assert page.tags["script"] == 0 and "<b>bold" not in raw
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in raw
    handovers = page.body_rows("signals", 0)
    routed = "ae@example.com · <queue>"
    assert handovers == [["new", "crossed_sql", "contact PX1", "CX1", reason, routed]]
    [(new,)] = query(
        serving,
        f"""select count(*) filter (where is_new) from marts.score_signals
        where score_date = '{day}'""",
    )
    assert raw.count('class="badge new"') == new
    repeated = [r for t in page.tables["signals"] for r in t if "CX2" in " ".join(r)]
    assert repeated and repeated[0][0] == ""


@slow
def test_movers_fall_back_to_30_days_and_empty_tables_are_explained(serving, tmp_path):
    day = BASELINE_DAY
    edit(
        serving,
        f"""update marts.score_history set score_change_30d = -5
        where score_date = '{day}'
            and entity_id in (select min(entity_id) from marts.score_history)""",
    )
    _, page = render(serving, tmp_path)
    [(kind,)] = query(
        serving,
        f"""select entity_type from marts.score_history
        where score_date = '{day}' and score_change_30d = -5""",
    )
    other = "account" if kind == "contact" else "contact"
    text = page.section_text("movers")
    assert "score_change_30d" in text
    assert f"No {other} score changed over 30 days" in text
    assert len(page.svgs["movers"]) == 1  # only the changed entity's type has a chart
    assert len(page.elements("movers", 0, "rect", "fall")) == 1
    assert not page.elements("movers", 0, "rect", "rise")

    edit(serving, "delete from marts.score_signals", "delete from marts.score_history")
    _, page = render(serving, tmp_path)
    assert f"No signals on {day}" in page.section_text("signals")
    assert f"No score history for {day}" in page.section_text("movers")
    assert not page.svgs["signals"] and not page.svgs["movers"]


@slow
def test_report_of_an_older_date_comes_from_history(serving, tmp_path):
    older = date(2026, 11, 11)
    edit(
        serving,
        f"""insert into marts.score_history
        select * replace ('{older}'::date as score_date) from marts.score_history""",
    )
    current, page = render(serving, tmp_path)  # the current date first: latest.html
    path, old_page = render(serving, tmp_path, older)
    assert path.name == f"{older}.html"
    assert path.with_name("latest.html").read_bytes() == current.read_bytes()
    assert "from marts.score_history" in old_page.section_text("overview")
    assert old_page.counts["contacts"] == page.counts["contacts"]
    assert old_page.counts["customers"] == page.counts["customers"]

    with pytest.raises(report.ReportError, match="no rows for 2026-10-01"):
        report.render_report(date(2026, 10, 1), serving_dir=serving, reports_dir=tmp_path / "r")


@slow
def test_reports_dir_from_the_environment(serving, tmp_path, monkeypatch):
    monkeypatch.setenv("LEADSCORE_SERVING_DIR", str(serving))
    monkeypatch.setenv(report.REPORTS_DIR_ENV, str(tmp_path / "elsewhere"))
    path = report.render_report()
    assert path == tmp_path / "elsewhere" / f"{BASELINE_DAY}.html"
    assert (tmp_path / "elsewhere" / "latest.html").exists()


@slow
def test_airflow_task_reports_the_runs_score_date(serving, tmp_path, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setenv("LEADSCORE_SERVING_DIR", str(serving))
    monkeypatch.setenv(report.REPORTS_DIR_ENV, str(tmp_path / "reports"))
    path = report.run_report_task(datetime(2026, 11, 19, tzinfo=UTC))
    assert path == str(tmp_path / "reports" / f"{BASELINE_DAY}.html")
    with pytest.raises(AirflowFailException, match="no scores for 2026-10-01"):
        report.run_report_task(datetime(2026, 10, 2, tzinfo=UTC))
