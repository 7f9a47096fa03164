"""A static HTML report of one score date, read from the published serving copy.

``render_report`` opens ``<serving>/scores.duckdb`` read-only (never the working warehouse: it
shows what BI sees, and it never holds a lock a run needs) and writes one self-contained page,
``<reports>/<score_date>.html``, plus ``latest.html``. Every plot is inline SVG drawn by the small
helpers below: no JavaScript, no external URL, nothing to install. Sections:

- header: score date, when it was published, contacts per stage, accounts per tier;
- score distributions: lead score of open leads and account score, 10-point bins, with the
  MQL / SQL thresholds;
- accounts per tier, customers and prospects;
- how well the scores predicted (``marts.model_validation``): conversion per decile and stage,
  retention per tier, AUC and lift of the top decile;
- the playbook (:mod:`leadscore.outputs.report_playbook`): service levels, deal scoring, funnel
  KPIs, hand-over within capacity and the control group;
- top movers (``marts.score_history``): biggest rises and falls over 7 (or 30) days;
- the day's signals (``marts.score_signals``).

The report directory is ``<data>/reports`` unless ``LEADSCORE_REPORTS_DIR`` says otherwise.
Each file is written to a temporary name and renamed, so a reader never sees half a page.
"""

from __future__ import annotations

import html
import logging
import math
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from leadscore import config
from leadscore.publish import serving_path

log = logging.getLogger(__name__)

REPORTS_DIR_ENV = "LEADSCORE_REPORTS_DIR"
LATEST = "latest.html"
#: Bins of the score histograms: 10 points wide over 0-100 (100 falls into the last bin).
BIN_WIDTH = 10
#: Entities listed per direction and entity type in "top movers".
MOVERS = 10
#: Top movers are ranked per entity type: (entity_type of marts.score_history, heading).
MOVER_GROUPS = (("contact", "Contacts (lead score)"), ("account", "Accounts (account score)"))
#: Signal rows listed per signal type (the chart counts all of them).
MAX_SIGNAL_ROWS = 300
#: Order of signal types wherever signals are listed: handovers need someone today.
SIGNAL_TYPE_ORDER = ("handover", "risk", "opportunity", "service")
#: Signals listed before the others of their type (then alphabetical): SQLs before MQLs.
SIGNAL_ORDER = ("crossed_sql", "crossed_mql")
STAGE_ORDER = ("lead", "MQL", "SQL", "customer")
TIER_ORDER = ("Strategic", "Growth", "Retain", "Evaluate")


class ReportError(RuntimeError):
    """The serving copy cannot produce the requested report (missing, or no such date)."""


def default_reports_dir() -> Path:
    """``$LEADSCORE_REPORTS_DIR``, else ``<data>/reports``."""
    value = os.environ.get(REPORTS_DIR_ENV)
    return Path(value).resolve() if value else config.data_dir() / "reports"


# --- reading the serving copy ------------------------------------------------------------------


def open_serving(serving_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published copy (timestamps in UTC)."""
    path = serving_path(serving_dir)
    if not path.exists():
        raise ReportError(f"no serving copy at {path}: nothing has been published yet")
    con = duckdb.connect(str(path), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    return con


def has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """A table or a view (the kept tables are views over their per-date files)."""
    return bool(
        con.execute(
            """select count(*) from information_schema.tables
            where table_schema = $schema and table_name = $table""",
            {"schema": schema, "table": table},
        ).fetchone()[0]
    )


def has_column(con: duckdb.DuckDBPyConnection, schema: str, table: str, column: str) -> bool:
    return bool(
        con.execute(
            """select count(*) from duckdb_columns()
            where schema_name = $schema and table_name = $table and column_name = $column""",
            {"schema": schema, "table": table, "column": column},
        ).fetchone()[0]
    )


def current_score_date(con: duckdb.DuckDBPyConnection) -> date:
    """The score date of the published scores: the newest ``marts.lead_scores.score_date``."""
    if not has_table(con, "marts", "lead_scores"):
        raise ReportError("the serving copy has no marts.lead_scores")
    day = con.execute("select max(score_date) from marts.lead_scores").fetchone()[0]
    if day is None:
        raise ReportError("marts.lead_scores in the serving copy is empty")
    return day


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> list[dict]:
    cursor = con.execute(sql, params or {})
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# --- formatting --------------------------------------------------------------------------------


def esc(value: object) -> str:
    """Text for HTML and SVG: every value that goes into the page passes through here."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt_int(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def fmt_num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def fmt_pct(value: float | None) -> str:
    if value is None:
        return "–"
    if value == 0:
        return "0%"
    return f"{100 * value:.2f}%" if abs(value) < 0.01 else f"{100 * value:.1f}%"


def fmt_signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1f}"


def fmt_lift(value: float | None) -> str:
    return "–" if value is None else f"×{value:.2f}"


# --- SVG charts --------------------------------------------------------------------------------
#
# Small, dependency-free chart helpers. Colours come from CSS classes (see STYLE); every bar is a
# <rect class="bar …"> with a <title> (the browser's tooltip), reference lines are
# <line class="threshold|baseline">, so a page can be checked by counting elements.

CHART_WIDTH = 600
FONT_PX = 11


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    css: str


@dataclass(frozen=True)
class Marker:
    """A vertical reference line at ``value`` on a histogram's x axis."""

    value: float
    label: str
    css: str = "threshold"


@dataclass(frozen=True)
class HBar:
    """One horizontal bar: ``overlay`` (e.g. the new ones) is drawn over the start of the bar."""

    label: str
    value: float
    css: str = "s0"
    text: str | None = None
    overlay: float | None = None
    overlay_css: str = ""


def _n(value: float) -> str:
    """A coordinate: one decimal, no trailing zeros."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def nice_axis(maximum: float, *, integer: bool = False, ticks: int = 4) -> list[float]:
    """Round tick values from 0 up to at least ``maximum``: 0, 5, 10, … or 0, 0.02, 0.04, …"""
    if maximum <= 0 or not math.isfinite(maximum):
        maximum = 1.0
    raw = maximum / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * magnitude for m in steps if m * magnitude >= raw)
    if integer:
        step = max(1.0, round(step))
    count = math.ceil(maximum / step - 1e-9)
    return [round(i * step, 10) for i in range(count + 1)]


def _svg_open(width: float, height: float, title: str) -> list[str]:
    return [
        f'<svg class="chart" viewBox="0 0 {_n(width)} {_n(height)}" width="{_n(width)}" '
        f'height="{_n(height)}" role="img" aria-label="{esc(title)}">',
        f"<title>{esc(title)}</title>",
    ]


def _legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    parts = []
    for item in series:
        parts.append(
            f'<rect class="swatch {esc(item.css)}" x="{_n(x)}" y="{_n(y - 9)}" '
            'width="10" height="10"/>'
        )
        parts.append(f'<text x="{_n(x + 14)}" y="{_n(y)}">{esc(item.name)}</text>')
        x += 24 + 7 * len(item.name)
    return parts


def _y_axis(
    ticks: list[float],
    scale: Callable[[float], float],
    left: float,
    right: float,
    fmt: Callable[[float], str],
) -> list[str]:
    parts = []
    for tick in ticks:
        y = scale(tick)
        parts.append(
            f'<line class="grid" x1="{_n(left)}" y1="{_n(y)}" x2="{_n(right)}" y2="{_n(y)}"/>'
        )
        parts.append(
            f'<text class="tick" x="{_n(left - 6)}" y="{_n(y + 4)}" text-anchor="end">'
            f"{esc(fmt(tick))}</text>"
        )
    return parts


def column_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    value_format: Callable[[float], str] = fmt_int,
    integer: bool = True,
    bar_labels: Sequence[str] | None = None,
    baseline: tuple[float, str] | None = None,
    x_label: str = "",
    height: float = 240,
    width: float = CHART_WIDTH,
) -> str:
    """Vertical bars, one group per category and one bar per series (grouped side by side)."""
    left, right, top, bottom = 58.0, 16.0, 30.0, 46.0
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([v for s in series for v in s.values] + [baseline[0] if baseline else 0])
    ticks = nice_axis(peak, integer=integer)
    y_max = ticks[-1]

    def y_of(value: float) -> float:
        return top + plot_h - plot_h * (value / y_max)

    parts = _svg_open(width, height, title)
    parts += _y_axis(ticks, y_of, left, width - right, value_format)
    slot = plot_w / max(len(categories), 1)
    bar_w = slot * 0.72 / max(len(series), 1)
    for i, category in enumerate(categories):
        x0 = left + i * slot + slot * 0.14
        for j, item in enumerate(series):
            value = item.values[i] or 0
            y = y_of(value)
            tip = (
                f"{category}, {item.name}: {value_format(value)}"
                if len(series) > 1
                else (f"{category}: {value_format(value)}")
            )
            parts.append(
                f'<rect class="bar {esc(item.css)}" x="{_n(x0 + j * bar_w)}" y="{_n(y)}" '
                f'width="{_n(bar_w - 1)}" height="{_n(top + plot_h - y)}">'
                f"<title>{esc(tip)}</title></rect>"
            )
            if len(series) > 1 or not bar_labels:
                parts.append(
                    f'<text class="value" x="{_n(x0 + j * bar_w + bar_w / 2)}" y="{_n(y - 3)}" '
                    f'text-anchor="middle">{esc(value_format(value))}</text>'
                )
        label_y = y_of(max(s.values[i] or 0 for s in series)) - 4
        if bar_labels:
            parts.append(
                f'<text class="value" x="{_n(left + i * slot + slot / 2)}" y="{_n(label_y)}" '
                f'text-anchor="middle">{esc(bar_labels[i])}</text>'
            )
        parts.append(
            f'<text class="category" x="{_n(left + i * slot + slot / 2)}" '
            f'y="{_n(top + plot_h + 15)}" text-anchor="middle">{esc(category)}</text>'
        )
    if baseline:
        y = y_of(baseline[0])
        parts.append(
            f'<line class="baseline" x1="{_n(left)}" y1="{_n(y)}" x2="{_n(width - right)}" '
            f'y2="{_n(y)}"/>'
        )
        # labelled in the top right corner, like a legend: next to the line it would hit bars
        parts.append(
            f'<line class="baseline" x1="{_n(width - right - 24)}" y1="10" '
            f'x2="{_n(width - right - 4)}" y2="10"/>'
        )
        parts.append(
            f'<text class="baseline-label" x="{_n(width - right - 28)}" y="14" '
            f'text-anchor="end">{esc(baseline[1])}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{_n(left)}" y1="{_n(top + plot_h)}" x2="{_n(width - right)}" '
        f'y2="{_n(top + plot_h)}"/>'
    )
    if x_label:
        parts.append(
            f'<text class="axis-label" x="{_n(left + plot_w / 2)}" y="{_n(height - 8)}" '
            f'text-anchor="middle">{esc(x_label)}</text>'
        )
    if len(series) > 1:
        parts += _legend(series, left, 14)
    parts.append("</svg>")
    return "\n".join(parts)


def histogram(
    counts: Sequence[int],
    *,
    title: str,
    low: float = 0,
    high: float = 100,
    markers: Sequence[Marker] = (),
    x_label: str = "",
    css: str = "s0",
    height: float = 240,
    width: float = CHART_WIDTH,
) -> str:
    """Adjacent bars over equal bins of [low, high], with vertical reference lines."""
    left, right, top, bottom = 58.0, 16.0, 30.0, 46.0
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = nice_axis(max(counts, default=0), integer=True)
    y_max = ticks[-1]
    bins = len(counts)
    edge = (high - low) / max(bins, 1)

    def x_of(value: float) -> float:
        return left + plot_w * (value - low) / (high - low)

    def y_of(value: float) -> float:
        return top + plot_h - plot_h * (value / y_max)

    parts = _svg_open(width, height, title)
    parts += _y_axis(ticks, y_of, left, width - right, fmt_int)
    for i, count in enumerate(counts):
        lo, hi = low + i * edge, low + (i + 1) * edge
        x, y = x_of(lo), y_of(count)
        closing = "]" if i == bins - 1 else ")"
        parts.append(
            f'<rect class="bar bin {esc(css)}" x="{_n(x + 0.5)}" y="{_n(y)}" '
            f'width="{_n(x_of(hi) - x - 1)}" height="{_n(top + plot_h - y)}">'
            f"<title>{esc(f'[{lo:g}, {hi:g}{closing}: {count:,}')}</title></rect>"
        )
        if count:
            parts.append(
                f'<text class="value" x="{_n((x + x_of(hi)) / 2)}" y="{_n(y - 3)}" '
                f'text-anchor="middle">{esc(fmt_int(count))}</text>'
            )
    for i in range(bins + 1):
        value = low + i * edge
        parts.append(
            f'<text class="tick" x="{_n(x_of(value))}" y="{_n(top + plot_h + 14)}" '
            f'text-anchor="middle">{esc(f"{value:g}")}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{_n(left)}" y1="{_n(top + plot_h)}" x2="{_n(width - right)}" '
        f'y2="{_n(top + plot_h)}"/>'
    )
    for k, marker in enumerate(sorted(markers, key=lambda m: m.value)):
        x = x_of(min(max(marker.value, low), high))
        parts.append(
            f'<line class="{esc(marker.css)}" x1="{_n(x)}" y1="{_n(top - 6)}" x2="{_n(x)}" '
            f'y2="{_n(top + plot_h)}"><title>{esc(marker.label)}</title></line>'
        )
        parts.append(
            f'<text class="marker-label {esc(marker.css)}" x="{_n(x + 4)}" '
            f'y="{_n(top - 14 + 10 * k)}">'
            f"{esc(marker.label)}</text>"
        )
    if x_label:
        parts.append(
            f'<text class="axis-label" x="{_n(left + plot_w / 2)}" y="{_n(height - 8)}" '
            f'text-anchor="middle">{esc(x_label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def hbar_chart(
    bars: Sequence[HBar],
    *,
    title: str,
    diverging: bool = False,
    label_width: float | None = None,
    row_height: float = 20,
    width: float = CHART_WIDTH,
) -> str:
    """Horizontal bars, one row each; ``diverging`` puts 0 in the middle (falls to the left)."""
    if label_width is None:  # room for the longest label, at most 45 % of the width
        label_width = min(width * 0.45, 20 + 6.6 * max((len(b.label) for b in bars), default=0))
    longest = max((len(b.text or fmt_num(b.value)) for b in bars), default=4)
    left, right, top, bottom = label_width, 12.0 + 6.2 * longest, 8.0, 8.0
    plot_w = width - left - right
    if diverging:  # values are written on both sides
        left, plot_w = label_width + 6.2 * longest, width - label_width - 2 * (12 + 6.2 * longest)
    height = top + bottom + row_height * max(len(bars), 1)
    peak = max((abs(b.value) for b in bars), default=0) or 1.0
    zero = left + plot_w / 2 if diverging else left
    half = plot_w / 2 if diverging else plot_w

    parts = _svg_open(width, height, title)
    for i, bar in enumerate(bars):
        y = top + i * row_height
        length = half * abs(bar.value) / peak
        x = zero - length if bar.value < 0 else zero
        tip = f"{bar.label}: {bar.text or fmt_num(bar.value)}"
        parts.append(
            f'<text class="category" x="{_n(left - 8)}" y="{_n(y + row_height / 2 + 4)}" '
            f'text-anchor="end">{esc(bar.label)}</text>'
        )
        parts.append(
            f'<rect class="bar {esc(bar.css)}" x="{_n(x)}" y="{_n(y + 3)}" '
            f'width="{_n(max(length, 0.5))}" height="{_n(row_height - 6)}">'
            f"<title>{esc(tip)}</title></rect>"
        )
        if bar.overlay:
            parts.append(
                f'<rect class="overlay {esc(bar.overlay_css or bar.css)}" '
                f'x="{_n(x)}" y="{_n(y + 3)}" '
                f'width="{_n(half * bar.overlay / peak)}" height="{_n(row_height - 6)}"/>'
            )
        if diverging and bar.value < 0:
            text_x, anchor = x - 4, "end"
        else:
            text_x, anchor = x + length + 4, "start"
        parts.append(
            f'<text class="value" x="{_n(text_x)}" y="{_n(y + row_height / 2 + 4)}" '
            f'text-anchor="{anchor}">{esc(bar.text or fmt_num(bar.value))}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{_n(zero)}" y1="{_n(top)}" x2="{_n(zero)}" '
        f'y2="{_n(height - bottom)}"/>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


# --- HTML pieces -------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, css: str = "") -> str:
    """An HTML table; cells are escaped unless given as ``Raw``."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if isinstance(c, Raw) else esc(c)}</td>" for c in row) + "</tr>"
        for row in rows
    )
    cls = f' class="{esc(css)}"' if css else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Raw(str):
    """HTML built here from escaped parts, put into a table cell as it is."""


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def section(anchor: str, title: str, *body: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>\n' + "\n".join(body) + "\n</section>"


def figure(svg: str, caption: str, heading: str = "") -> str:
    top = f"<h3>{esc(heading)}</h3>" if heading else ""
    return f"<figure>{top}{svg}<figcaption>{esc(caption)}</figcaption></figure>"


STYLE = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --bg: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: var(--bg); }
header.top { background: #243b53; color: #fff; padding: 18px 32px; }
header.top h1 { margin: 0 0 4px; font-size: 22px; }
header.top p { margin: 0; color: #d9e2ec; }
nav { padding: 8px 32px; background: #fff; border-bottom: 1px solid var(--line); }
nav a { margin-right: 16px; color: #2f6fae; text-decoration: none; }
main { max-width: 1180px; margin: 0 auto; padding: 8px 32px 40px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px;
          padding: 16px 20px; margin: 18px 0; }
h2 { margin: 0 0 12px; font-size: 18px; }
h3 { margin: 16px 0 6px; font-size: 15px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 120px;
        margin: 0; }
.card dt { color: var(--muted); font-size: 12px; }
.card dd { margin: 0; font-size: 20px; font-weight: 600; }
.row { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.row > * { flex: 1 1 380px; min-width: 0; }
.row > figure { flex: 0 1 600px; }
.row.pair > figure { flex: 1 1 500px; }
figure { margin: 8px 0; }
figcaption { color: var(--muted); font-size: 12px; }
svg.chart { max-width: 100%; height: auto; display: block; }
svg.chart text { font: 11px system-ui, sans-serif; fill: #3e4c59; }
svg.chart text.category { fill: var(--ink); }
svg.chart text.value { fill: #3e4c59; font-size: 10px; paint-order: stroke;
                       stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
svg.chart text.axis-label { fill: var(--muted); }
svg.chart line.grid { stroke: #e4e7eb; }
svg.chart line.axis { stroke: #9aa5b1; }
svg.chart line.threshold { stroke: #d64545; stroke-width: 2; stroke-dasharray: 5 3; }
svg.chart line.threshold.sql { stroke: #7b2cbf; }
svg.chart text.marker-label { fill: #d64545; font-weight: 600; }
svg.chart text.marker-label.sql { fill: #7b2cbf; }
svg.chart line.baseline { stroke: #616e7c; stroke-width: 1.5; stroke-dasharray: 4 3; }
svg.chart text.baseline-label { fill: #616e7c; }
.s0 { fill: #4c78a8; } .s1 { fill: #f58518; } .s2 { fill: #54a24b; } .s3 { fill: #439894; }
.customer { fill: #f58518; } .prospect { fill: #4c78a8; }
.rise { fill: #3f9142; } .fall { fill: #d64545; }
.handover { fill: #4c78a8; } .risk { fill: #d64545; } .opportunity { fill: #3f9142; }
.service { fill: #8e6bbf; }
svg.chart rect.bar.muted { fill-opacity: 0.35; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line);
         vertical-align: top; }
th { background: #f0f4f8; font-weight: 600; }
tbody tr:nth-child(even) { background: #fafbfc; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.numbers { display: flex; flex-wrap: wrap; gap: 10px; }
.note { color: var(--muted); }
.empty { color: var(--muted); font-style: italic; }
.badge { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 11px;
         font-weight: 600; background: #e3f8ff; color: #0b69a3; }
.badge.new { background: #ffe3e3; color: #ab091e; }
.type-handover { color: #2f6fae; font-weight: 600; }
.type-risk { color: #c12f2f; font-weight: 600; }
.type-opportunity { color: #2f7d32; font-weight: 600; }
.type-service { color: #6a4c9c; font-weight: 600; }
details > summary { cursor: pointer; font-weight: 600; margin: 10px 0 4px; }
code { background: #f0f4f8; padding: 1px 4px; border-radius: 3px; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 12px; }
"""


def cards(items: Sequence[tuple[str, str, object]]) -> str:
    """Key figures: (key, label, value); ``data-count`` carries the raw value for machines."""
    body = "".join(
        f'<div class="card"><dt>{esc(label)}</dt>'
        f'<dd data-count="{esc(key)}" data-value="{esc(value)}">'
        f"{esc(fmt_int(value) if isinstance(value, int | float) else value)}</dd></div>"
        for key, label, value in items
    )
    return f'<dl class="cards">{body}</dl>'


# --- the report --------------------------------------------------------------------------------


@dataclass
class _Context:
    con: duckdb.DuckDBPyConnection
    score_date: date
    current_date: date
    from_history: bool  # the date is not the current publish: scores come from score_history

    def contacts_sql(self) -> str:
        if self.from_history:
            return """select entity_id as contact_id, coalesce(stage, '–') as stage, score
                from marts.score_history where entity_type = 'contact' and score_date = $day"""
        return """select contact_id, coalesce(lifecycle_stage, '–') as stage, lead_score as score
            from marts.lead_scores where score_date = $day"""

    def accounts_sql(self) -> str:
        if self.from_history:
            return """select entity_id as account_id, coalesce(stage, '–') as tier,
                financial_score is not null as is_customer, score
                from marts.score_history where entity_type = 'account' and score_date = $day"""
        return """select account_id, coalesce(tier, '–') as tier, coalesce(is_customer, false)
                as is_customer, account_score as score
            from marts.account_scores where score_date = $day"""

    @property
    def day(self) -> dict:
        return {"day": self.score_date}


def _ordered(values: Sequence[str], order: Sequence[str]) -> list[str]:
    known = [v for v in order if v in values]
    return known + sorted(v for v in values if v not in order)


def _header(ctx: _Context) -> tuple[str, str]:
    """The page's top bar and the key-figures section."""
    con = ctx.con
    stages = {
        r["stage"]: r["n"]
        for r in _rows(
            con, f"select stage, count(*) as n from ({ctx.contacts_sql()}) group by stage", ctx.day
        )
    }
    tiers = _rows(
        con,
        f"""select tier, count(*) as n, count(*) filter (where is_customer) as customers,
            count(*) filter (where not is_customer) as prospects, min(score) as low
        from ({ctx.accounts_sql()}) group by tier order by low desc""",
        ctx.day,
    )
    published = None
    if has_table(con, "meta", "publish_log"):
        published = con.execute(
            """select max(published_at), arg_max(run_id, published_at)
            from meta.publish_log where score_date = $day""",
            ctx.day,
        ).fetchone()
    when = (
        f"published {published[0]:%Y-%m-%d %H:%M:%S} UTC"
        + (f" by run {published[1]}" if published[1] else " from the command line")
        if published and published[0]
        else "not published on its own: rebuilt from marts.score_history"
    )
    top = (
        '<header class="top">'
        f"<h1>Lead and account scores for {esc(ctx.score_date.isoformat())}</h1>"
        f'<p><span id="published-at">{esc(when)}</span> · serving copy holds '
        f"{esc(ctx.current_date.isoformat())} · generated "
        f"{esc(f'{datetime.now(UTC):%Y-%m-%d %H:%M:%S}')} UTC</p></header>"
    )
    contacts = sum(stages.values())
    items: list[tuple[str, str, object]] = [
        ("contacts", "contacts scored", contacts),
        ("open_leads", "open leads", contacts - stages.get("customer", 0)),
        ("MQL", "MQL", stages.get("MQL", 0)),
        ("SQL", "SQL", stages.get("SQL", 0)),
        ("customers", "customer contacts", stages.get("customer", 0)),
        ("accounts", "accounts", sum(t["n"] for t in tiers)),
    ]
    items += [(f"tier:{t['tier']}", f"{t['tier']} accounts", t["n"]) for t in tiers]
    body = [cards(items)]
    if ctx.from_history:
        body.append(
            note(
                f"{ctx.score_date} is not the current publish ({ctx.current_date}): these "
                "figures come from marts.score_history."
            )
        )
    stage_names = _ordered(list(stages), STAGE_ORDER)
    if stage_names:
        svg = column_chart(
            stage_names,
            [Series("contacts", [stages[s] for s in stage_names], "s0")],
            title="Contacts per lifecycle stage",
            height=200,
        )
        body.append(figure(svg, "Contacts per lifecycle stage."))
    else:
        body.append('<p class="empty">No contacts scored on this date.</p>')
    return top, section("overview", "Overview", *body)


def _bins(ctx: _Context, source_sql: str, where: str = "true") -> list[int]:
    rows = ctx.con.execute(
        f"""select least(floor(score / {BIN_WIDTH}), {100 // BIN_WIDTH - 1})::int as b,
            count(*) from ({source_sql}) where {where} group by b""",
        ctx.day,
    ).fetchall()
    counts = [0] * (100 // BIN_WIDTH)
    for b, n in rows:
        counts[max(b, 0)] += n
    return counts


def _thresholds(con: duckdb.DuckDBPyConnection) -> tuple[float, float, int, int] | None:
    """The most common (MQL, SQL) threshold pair, the contacts using it, and all contacts."""
    if not (
        has_column(con, "marts", "lead_scores", "mql_threshold")
        and has_column(con, "marts", "lead_scores", "sql_threshold")
    ):
        return None
    row = con.execute(
        """select mql_threshold, sql_threshold, count(*) as n, sum(count(*)) over () as total
        from marts.lead_scores group by all order by n desc, 1, 2 limit 1"""
    ).fetchone()
    return None if row is None else (row[0], row[1], row[2], int(row[3]))


def _distributions(ctx: _Context) -> str:
    leads = _bins(ctx, ctx.contacts_sql(), "stage != 'customer'")
    accounts = _bins(ctx, ctx.accounts_sql())
    thresholds = _thresholds(ctx.con)
    markers: list[Marker] = []
    captions = [f"Open leads ({sum(leads):,}) per 10 points of lead score."]
    if thresholds:
        mql, sql_, used, total = thresholds
        markers = [
            Marker(mql, f"MQL {mql:g}", "threshold mql"),
            Marker(sql_, f"SQL {sql_:g}", "threshold sql"),
        ]
        captions.append(f"Dashed lines: MQL at {mql:g}, SQL at {sql_:g}")
        if used < total:
            captions[-1] += (
                f" (the most common thresholds; {total - used:,} contacts are in segments "
                "with other thresholds)"
            )
        captions[-1] += "."
    parts = []
    if sum(leads):
        parts.append(
            figure(
                histogram(
                    leads,
                    title="Lead score of open leads",
                    markers=markers,
                    x_label="lead score",
                    width=520,
                ),
                " ".join(captions),
                "Lead score, open leads",
            )
        )
    else:
        parts.append('<p class="empty">No open leads on this date.</p>')
    if sum(accounts):
        parts.append(
            figure(
                histogram(
                    accounts,
                    title="Account score",
                    x_label="account score",
                    css="s3",
                    width=520,
                ),
                f"Accounts ({sum(accounts):,}) per 10 points of account score.",
                "Account score, all accounts",
            )
        )
    else:
        parts.append('<p class="empty">No accounts scored on this date.</p>')
    return section(
        "distributions", "Score distributions", f'<div class="row pair">{"".join(parts)}</div>'
    )


def _tiers(ctx: _Context) -> str:
    rows = _rows(
        ctx.con,
        f"""select tier, count(*) filter (where is_customer) as customers,
            count(*) filter (where not is_customer) as prospects
        from ({ctx.accounts_sql()}) group by tier""",
        ctx.day,
    )
    if not rows:
        return section("tiers", "Accounts per tier", '<p class="empty">No accounts scored.</p>')
    by_tier = {r["tier"]: r for r in rows}
    names = _ordered(list(by_tier), TIER_ORDER)
    svg = column_chart(
        names,
        [
            Series("customers", [by_tier[t]["customers"] for t in names], "customer"),
            Series("prospects", [by_tier[t]["prospects"] for t in names], "prospect"),
        ],
        title="Accounts per tier: customers and prospects",
        x_label="tier (highest account score first)",
    )
    listing = table(
        ["tier", "customers", "prospects", "accounts"],
        [
            (
                t,
                fmt_int(by_tier[t]["customers"]),
                fmt_int(by_tier[t]["prospects"]),
                fmt_int(by_tier[t]["customers"] + by_tier[t]["prospects"]),
            )
            for t in names
        ],
    )
    return section(
        "tiers",
        "Accounts per tier",
        f'<div class="row">{figure(svg, "Accounts per tier, customers next to prospects.")}'
        f"<div>{listing}</div></div>",
    )


def _validation(ctx: _Context) -> str:
    con = ctx.con
    hint = (
        "No validation results for this date in this publish. marts.model_validation compares "
        "the scores of past monthly cut-offs with what happened next; it fills once "
        "marts.score_history holds cut-offs older than the validation horizon. Score them with "
        "<code>leadscore history --months 12</code> (<code>make backtest</code> in the demo); "
        "the next run publishes the results."
    )
    title = "How well the scores predict"
    if not has_table(con, "marts", "model_validation"):
        return section("validation", title, f'<p class="empty">{hint}</p>')
    run = con.execute(
        "select max(score_date) from marts.model_validation where score_date <= $day", ctx.day
    ).fetchone()[0]
    if run is None:
        return section("validation", title, f'<p class="empty">{hint}</p>')
    rows = _rows(
        con,
        """select model, band_type, band, entities, positives, rate, lift, auc, cutoffs,
            first_cutoff, last_cutoff
        from marts.model_validation where score_date = $run""",
        {"run": run},
    )

    def band_rows(model: str, band_type: str, order: Sequence[str] = ()) -> list[dict]:
        found = [
            {**r, "band": str(r["band"] if r["band"] is not None else "–")}
            for r in rows
            if r["model"] == model and r["band_type"] == band_type
        ]
        if band_type == "decile":
            return sorted(found, key=lambda r: int(r["band"]) if r["band"].isdigit() else 99)
        names = _ordered([r["band"] for r in found], order)
        return sorted(found, key=lambda r: names.index(r["band"]))

    def overall(model: str) -> dict | None:
        return next((r for r in band_rows(model, "all")), None)

    body = []
    span = next(
        (r for r in rows if r["first_cutoff"] is not None),
        None,
    )
    if span:
        body.append(
            note(
                f"Validation run of {run}: {span['cutoffs']} monthly cut-offs from "
                f"{span['first_cutoff']} to {span['last_cutoff']}. Decile 1 = highest scores; "
                "lift = rate of the band over the rate of all."
            )
        )
    numbers = []
    for model, what in (("lead_conversion", "lead conversion"), ("account_retention", "retention")):
        total = overall(model)
        top_decile = next((r for r in band_rows(model, "decile") if r["band"] == "1"), None)
        if total:
            numbers += [
                (f"auc:{model}", f"AUC, {what}", fmt_num(total["auc"], 3)),
                (f"base:{model}", f"base rate, {what}", fmt_pct(total["rate"])),
            ]
        if top_decile:
            numbers.append(
                (f"lift:{model}", f"top-decile lift, {what}", fmt_lift(top_decile["lift"]))
            )
    if numbers:
        body.append(cards(numbers))

    def rate_chart(
        model: str, band_type: str, order: Sequence[str], title: str, css: str, x_label: str
    ) -> str:
        found = band_rows(model, band_type, order)
        if not found:
            return f'<p class="empty">No {esc(band_type)} rows for {esc(model)}.</p>'
        total = overall(model)
        svg = column_chart(
            [r["band"] for r in found],
            [Series("rate", [r["rate"] or 0 for r in found], css)],
            title=title,
            value_format=fmt_pct,
            integer=False,
            bar_labels=[fmt_lift(r["lift"]) for r in found],
            baseline=(total["rate"], f"all: {fmt_pct(total['rate'])}") if total else None,
            x_label=x_label,
        )
        listing = table(
            [band_type, "entities", "positives", "rate", "lift"],
            [
                (
                    r["band"],
                    fmt_int(r["entities"]),
                    fmt_int(r["positives"]),
                    fmt_pct(r["rate"]),
                    fmt_lift(r["lift"]),
                )
                for r in found
            ],
        )
        return (
            f"<h3>{esc(title)}</h3>"
            f'<div class="row">{figure(svg, "Bars: rate; above each bar: lift over all.")}'
            f"<div>{listing}</div></div>"
        )

    body.append(
        rate_chart(
            "lead_conversion",
            "decile",
            (),
            "Lead conversion per lead-score decile",
            "s0",
            "decile (1 = highest lead scores)",
        )
    )
    body.append(
        rate_chart(
            "lead_conversion",
            "stage",
            STAGE_ORDER,
            "Lead conversion per stage",
            "s0",
            "lifecycle stage at the cut-off",
        )
    )
    body.append(
        rate_chart(
            "account_retention",
            "tier",
            TIER_ORDER,
            "Customer retention per tier",
            "customer",
            "tier at the cut-off",
        )
    )
    return section("validation", title, *body)


def _movers(ctx: _Context) -> str:
    con = ctx.con
    title = "Top movers"
    if not has_table(con, "marts", "score_history"):
        return section("movers", title, '<p class="empty">No marts.score_history published.</p>')
    with_7d, with_30d, entities = con.execute(
        """select count(score_change_7d), count(score_change_30d), count(*)
        from marts.score_history where score_date = $day""",
        ctx.day,
    ).fetchone()
    if not entities:
        return section(
            "movers", title, f'<p class="empty">No score history for {esc(ctx.score_date)}.</p>'
        )
    if with_7d:
        column, span = "score_change_7d", "7 days"
        explain = "Change of the score against the newest score at least 7 days older."
    elif with_30d:
        column, span = "score_change_30d", "30 days"
        explain = (
            "No entity has a score 7–14 days older, so this is the change against the newest "
            "score at least 30 days older (score_change_30d)."
        )
    else:
        return section(
            "movers",
            title,
            '<p class="empty">No earlier scores to compare with yet: score_change_7d and '
            "score_change_30d need scores 7 or 30 days older in marts.score_history.</p>",
        )
    apart = " Contacts and accounts are ranked apart, so the few accounts are not crowded out."
    body = [note(explain + apart)]
    for entity_type, heading in MOVER_GROUPS:
        body.append(_movers_of(con, ctx.day, entity_type, heading, column, span))
    return section("movers", f"{title} ({span})", *body)


def _movers_of(
    con: duckdb.DuckDBPyConnection,
    day: dict,
    entity_type: str,
    heading: str,
    column: str,
    span: str,
) -> str:
    """Chart and tables of one entity type's biggest rises and falls."""
    picked = {}
    for direction, op, order in (("rises", ">", "desc"), ("falls", "<", "asc")):
        picked[direction] = _rows(
            con,
            f"""select entity_type, entity_id, account_id, stage, score, {column} as change
            from marts.score_history
            where score_date = $day and entity_type = $entity_type and {column} {op} 0
            order by {column} {order}, entity_id limit {MOVERS}""",
            {**day, "entity_type": entity_type},
        )
    rises, falls = picked["rises"], picked["falls"]
    if not rises and not falls:
        return (
            f'<div class="movers-group"><h3>{esc(heading)}</h3>'
            f'<p class="empty">No {esc(entity_type)} score changed over {esc(span)}.</p></div>'
        )
    bars = [
        HBar(f"{r['entity_id']} ({r['stage']})", r["change"], "rise", fmt_signed(r["change"]))
        for r in rises
    ] + [
        HBar(f"{r['entity_id']} ({r['stage']})", r["change"], "fall", fmt_signed(r["change"]))
        for r in reversed(falls)
    ]
    chart = figure(
        hbar_chart(bars, title=f"{heading}: biggest changes over {span}", diverging=True),
        f"The {len(rises)} biggest rises (green) and {len(falls)} biggest falls (red) of "
        f"{entity_type} scores over {span}.",
    )
    stage = "stage" if entity_type == "contact" else "tier"
    account = ["account"] if entity_type == "contact" else []  # an account is its own account

    def listing(rows: list[dict], title: str) -> str:
        if not rows:
            return f'<div><h4>{esc(title)}</h4><p class="empty">None.</p></div>'
        return (
            f"<div><h4>{esc(title)}</h4>"
            + table(
                [entity_type, *account, stage, "score", f"change ({span})"],
                [
                    (
                        r["entity_id"],
                        *([r["account_id"]] if account else []),
                        r["stage"],
                        fmt_num(r["score"]),
                        fmt_signed(r["change"]),
                    )
                    for r in rows
                ],
            )
            + "</div>"
        )

    return (
        f'<div class="movers-group"><h3>{esc(heading)}</h3>{chart}'
        f'<div class="row">{listing(rises, "Biggest rises")}{listing(falls, "Biggest falls")}'
        "</div></div>"
    )


def signal_rows(con: duckdb.DuckDBPyConnection, score_date: date, *, only_new: bool) -> list[dict]:
    """The score date's rows of ``marts.score_signals``: handovers first, SQLs before MQLs."""
    if not has_table(con, "marts", "score_signals"):
        return []
    order = ", ".join(f"'{t}'" for t in SIGNAL_TYPE_ORDER)
    first = ", ".join(f"'{s}'" for s in SIGNAL_ORDER)
    return _rows(
        con,
        f"""select * from marts.score_signals
        where score_date = $day {"and is_new" if only_new else ""}
        order by coalesce(list_position([{order}], signal_type), 99), signal_type,
            coalesce(list_position([{first}], signal), 99), signal, entity_type, entity_id""",
        {"day": score_date},
    )


def _signals(ctx: _Context) -> str:
    title = f"Signals of {ctx.score_date}"
    if not has_table(ctx.con, "marts", "score_signals"):
        return section("signals", title, '<p class="empty">No marts.score_signals published.</p>')
    rows = signal_rows(ctx.con, ctx.score_date, only_new=False)
    if not rows:
        return section(
            "signals", title, f'<p class="empty">No signals on {esc(ctx.score_date)}.</p>'
        )
    counts: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        entry = counts.setdefault((r["signal_type"], r["signal"]), [0, 0])
        entry[0] += 1
        entry[1] += bool(r["is_new"])
    bars = [
        HBar(
            f"{kind} · {signal}",
            n,
            f"{kind if kind in SIGNAL_TYPE_ORDER else 's0'} muted",
            f"{n:,} ({new:,} new)",
            new,
            kind if kind in SIGNAL_TYPE_ORDER else "s0",
        )
        for (kind, signal), (n, new) in counts.items()
    ]
    new_total = sum(bool(r["is_new"]) for r in rows)
    body = [
        note(
            f"{len(rows):,} signals, {new_total:,} of them new (not raised for the entity on the "
            "previous score date; the notification sends the new ones)."
        ),
        figure(
            hbar_chart(bars, title="Signals per type"),
            "Signals per signal: the solid part is new, the light part was raised on the "
            "previous score date too.",
        ),
    ]
    for kind in _ordered(sorted({r["signal_type"] for r in rows}), SIGNAL_TYPE_ORDER):
        of_kind = [r for r in rows if r["signal_type"] == kind]
        shown = of_kind[:MAX_SIGNAL_ROWS]
        cells = []
        for r in shown:
            new = Raw('<span class="badge new">new</span>') if r["is_new"] else ""
            routed = " · ".join(str(v) for v in (r.get("owner"), r.get("queue")) if v)
            cells.append(
                (
                    new,
                    r["signal"],
                    f"{r['entity_type']} {r['entity_id']}",
                    r["account_id"],
                    r["reason"],
                    routed or "–",
                )
            )
        more = (
            note(f"… and {len(of_kind) - len(shown):,} more: query marts.score_signals.")
            if len(of_kind) > len(shown)
            else ""
        )
        body.append(
            f'<details open><summary class="type-{esc(kind)}">{esc(kind)} '
            f"({len(of_kind):,}, {sum(bool(r['is_new']) for r in of_kind):,} new)</summary>"
            + table(
                ["", "signal", "entity", "account", "reason", "owner / queue"], cells, css="signals"
            )
            + more
            + "</details>"
        )
    return section("signals", title, *body)


def build_html(con: duckdb.DuckDBPyConnection, score_date: date | None = None) -> str:
    """The report page for ``score_date`` (default: the current publish) from an open copy."""
    current = current_score_date(con)
    score_date = score_date or current
    from_history = score_date != current
    if from_history:
        found = (
            has_table(con, "marts", "score_history")
            and con.execute(
                "select count(*) from marts.score_history where score_date = $day",
                {"day": score_date},
            ).fetchone()[0]
        )
        if not found:
            raise ReportError(
                f"no scores for {score_date} in the serving copy: it holds {current}, and "
                f"marts.score_history has no rows for {score_date}"
            )
    # imported here: report_playbook draws with this module's helpers
    from leadscore.outputs.report_playbook import SECTIONS as PLAYBOOK

    ctx = _Context(con, score_date, current, from_history)
    top, overview = _header(ctx)
    sections = [
        overview,
        _distributions(ctx),
        _tiers(ctx),
        _validation(ctx),
        *(playbook.draw(ctx) for playbook in PLAYBOOK),
        _movers(ctx),
        _signals(ctx),
    ]
    nav = "".join(
        f'<a href="#{a}">{esc(t)}</a>'
        for a, t in (
            ("overview", "Overview"),
            ("distributions", "Distributions"),
            ("tiers", "Tiers"),
            ("validation", "Validation"),
            *((playbook.anchor, playbook.title) for playbook in PLAYBOOK),
            ("movers", "Movers"),
            ("signals", "Signals"),
        )
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>leadscore report {esc(score_date.isoformat())}</title>"
        f"<style>{STYLE}</style></head><body>\n"
        f"{top}\n<nav>{nav}</nav>\n<main>\n"
        + "\n".join(sections)
        + "\n</main>\n<footer>leadscore: read from the published serving copy "
        "(schema marts, meta.publish_log); every chart is drawn from the tables named in "
        "its section.</footer>\n</body></html>\n"
    )


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def render_report(
    score_date: date | None = None,
    *,
    serving_dir: Path | None = None,
    reports_dir: Path | None = None,
) -> Path:
    """Write ``<reports>/<score_date>.html`` from the serving copy and return its path.

    ``latest.html`` gets the same page when the report is for the current publish (a report of
    an older date, rebuilt from ``marts.score_history``, leaves it alone).
    """
    out_dir = reports_dir or default_reports_dir()
    with open_serving(serving_dir) as con:
        current = current_score_date(con)
        day = score_date or current
        page = build_html(con, day)
    out_dir.mkdir(parents=True, exist_ok=True)
    dated = out_dir / f"{day.isoformat()}.html"
    _write_atomic(dated, page)
    if day >= current:
        _write_atomic(out_dir / LATEST, page)
    log.warning("wrote the report for %s: %s", day, dated)
    return dated


def run_report_task(data_interval_end: datetime | None = None) -> str:
    """Airflow task (after ``publish``): the report of the run's score date; returns its path.

    A serving copy without the day's scores fails the task at once: a retry cannot fix it.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from leadscore.orchestration import interval_score_date

    try:
        return str(render_report(interval_score_date(data_interval_end)))
    except ReportError as err:
        raise AirflowFailException(str(err)) from err
