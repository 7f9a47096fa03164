"""What the report's playbook sections share: the section and column types, the lookups of
published tables and columns, the formats, and the interval chart.

The sections are in :mod:`leadscore.outputs.report_playbook` (service levels, hand-over, control
group; :data:`~leadscore.outputs.report_playbook.SECTIONS`) and
:mod:`leadscore.outputs.report_sales` (deal scoring, funnel KPIs). Everything here draws with
report.py's helpers.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, NamedTuple

import duckdb

from leadscore.outputs.report import (
    _Context,
    _n,
    _rows,
    _svg_open,
    esc,
    fmt_pct,
    nice_axis,
    section,
    table,
)

log = logging.getLogger(__name__)

# The columns validation_rows reads; one a publish does not have yet reads as null.
VALIDATION_COLUMNS = [
    "band_type",
    "band",
    "entities",
    "positives",
    "rate",
    "predicted_rate",
    "auc",
    "rate_ci_low",
    "rate_ci_high",
    "median_days_to_outcome",
    "cutoffs",
    "first_cutoff",
    "last_cutoff",
]


class Playbook(NamedTuple):
    anchor: str
    title: str  # the table of contents' entry
    render: Callable[[_Context], str]

    def draw(self, ctx: _Context) -> str:
        """The section. Tables whose columns differ from what this version reads (a publish
        made by another version of the dbt project) give a note naming the error: the rest of
        the report is still written."""
        try:
            return self.render(ctx)
        except duckdb.Error as err:
            reason = str(err).strip().splitlines()[0]
            log.warning("report section %s could not be drawn: %s", self.anchor, reason)
            text = (
                f"This section could not be drawn from this publish ({reason}): its tables were "
                "published by a different version of the dbt project. The next run publishes "
                "them again."
            )
            return section(self.anchor, self.title, f'<p class="empty">{esc(text)}</p>')


class Col(NamedTuple):
    """A table column: its header, the row's key (or a function of the row), the format."""

    header: str
    value: str | Callable[[dict], object]
    fmt: Callable[[object], str] = lambda v: "–" if v is None or v == "" else str(v)


def listing(rows: Sequence[Any], columns: Sequence[Col], css: str = "") -> str:
    return table(
        [c.header for c in columns],
        [
            [c.fmt(c.value(r) if callable(c.value) else r.get(c.value)) for c in columns]
            for r in rows
        ],
        css=css,
    )


# --- helpers -----------------------------------------------------------------------------------


def empty(text: str, *code: str) -> str:
    """An explanation in place of a section's content; each ``{}`` in ``text`` shows a ``code``."""
    parts = [esc(p) for p in text.split("{}")]
    body = parts[0] + "".join(
        f"<code>{esc(c)}</code>{p}" for c, p in zip(code, parts[1:], strict=True)
    )
    return f'<p class="empty">{body}</p>'


def mart_columns(con: duckdb.DuckDBPyConnection, table_name: str) -> set[str]:
    """The columns of ``marts.<table_name>`` (empty if it is not there)."""
    found = con.execute(
        """select column_name from duckdb_columns()
        where schema_name = 'marts' and table_name = $table""",
        {"table": table_name},
    ).fetchall()
    return {r[0] for r in found}


def pick(present: set[str], names: Sequence[str]) -> str:
    return ", ".join(n if n in present else f"null as {n}" for n in names)


def newest_run(ctx: _Context, table_name: str, where: str = "true") -> date | None:
    """The newest ``score_date`` of ``marts.<table_name>`` up to the report's date."""
    return ctx.con.execute(
        f"select max(score_date) from marts.{table_name} where score_date <= $day and {where}",
        ctx.day,
    ).fetchone()[0]


def validation_rows(ctx: _Context, model: str) -> tuple[date | None, list[dict], set[str]]:
    """The newest validation run of ``model`` up to the report's date, its rows and columns."""
    present = mart_columns(ctx.con, "model_validation")
    if not present:
        return None, [], present
    run = newest_run(ctx, "model_validation", f"model = '{model}'")
    rows = _rows(
        ctx.con,
        f"""select {pick(present, VALIDATION_COLUMNS)} from marts.model_validation
        where score_date = $run and model = $model""",
        {"run": run, "model": model},
    )
    return run, rows, present


def not_on_this_date(ctx: _Context, table_name: str) -> str:
    """A table with only the current publish's rows asked for an older date, or empty."""
    if ctx.from_history:
        return empty(
            f"{{}} holds the current publish ({ctx.current_date}) only, not {ctx.score_date}.",
            f"marts.{table_name}",
        )
    return empty(f"{{}} has no rows for {ctx.score_date}.", f"marts.{table_name}")


def fmt_text(value: object) -> str:
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value) or "–"
    return "–" if value is None or value == "" else str(value)


def fmt_ci(low: float | None, high: float | None, fmt: Callable[[float | None], str]) -> str:
    return "" if low is None or high is None else f"[{fmt(low)}, {fmt(high)}]"


def fmt_pp(value: float | None) -> str:
    """A difference of two rates, in percentage points."""
    return "–" if value is None else f"{100 * value:+.1f} pp"


def fmt_days(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f} d"


def rate(part: float | None, whole: float | None) -> float | None:
    return None if not whole else (part or 0) / whole


def band_key(row: dict) -> tuple:
    """Probability bands low to high: by mean predicted probability, else the band's number."""
    number = re.search(r"\d+(\.\d+)?", row["band"])
    predicted = row.get("predicted_rate")
    return (
        predicted is None,
        predicted or 0,
        float(number.group()) if number else 1e9,
        row["band"],
    )


class Interval(NamedTuple):
    label: str
    value: float
    low: float | None
    high: float | None
    css: str = "s0"


def interval_chart(
    items: Sequence[Interval],
    *,
    title: str,
    value_format: Callable[[float | None], str] = fmt_pct,
    zero_line: bool = False,
    row_height: float = 24,
    width: float = 520,
) -> str:
    """A dot per row and its interval as a light bar, on one horizontal axis.

    Drawn with the classes of report.py's charts (``rect.bar … muted``, ``line.baseline``), so it
    needs no CSS of its own; the dots are ``circle.point``.
    """
    label_width = min(width * 0.4, 20 + 6.6 * max((len(i.label) for i in items), default=0))
    texts = [
        f"{value_format(i.value)} {fmt_ci(i.low, i.high, value_format)}".strip() for i in items
    ]
    right = 12 + 6.0 * max((len(t) for t in texts), default=4)
    left, top, bottom = label_width, 8.0, 22.0
    plot_w = width - left - right
    values = [v for i in items for v in (i.value, i.low, i.high) if v is not None]
    low, high = min([*values, 0.0]), max([*values, 0.0])
    step = nice_axis(high - low)[1]  # round ticks from below the lowest to above the highest
    ticks = [k * step for k in range(math.floor(low / step), math.ceil(high / step) + 1)]
    if len(ticks) == 1:  # every value 0
        ticks.append(step)
    low, high = ticks[0], ticks[-1]

    def x_of(value: float) -> float:
        return left + plot_w * (value - low) / (high - low)

    height = top + bottom + row_height * max(len(items), 1)
    axis_y = height - bottom
    parts = _svg_open(width, height, title)
    for i, (item, text) in enumerate(zip(items, texts, strict=True)):
        y = top + i * row_height + row_height / 2
        tip = f"<title>{esc(f'{item.label}: {text}')}</title>"
        parts.append(
            f'<text class="category" x="{_n(left - 8)}" y="{_n(y + 4)}" '
            f'text-anchor="end">{esc(item.label)}</text>'
        )
        if item.low is not None and item.high is not None:
            x0, x1 = x_of(item.low), x_of(item.high)
            parts.append(
                f'<rect class="bar interval {esc(item.css)} muted" x="{_n(x0)}" y="{_n(y - 5)}" '
                f'width="{_n(max(x1 - x0, 0.5))}" height="10">{tip}</rect>'
            )
        parts.append(
            f'<circle class="point {esc(item.css)}" cx="{_n(x_of(item.value))}" cy="{_n(y)}" '
            f'r="4">{tip}</circle>'
        )
        parts.append(
            f'<text class="value" x="{_n(width - right + 6)}" y="{_n(y + 4)}">{esc(text)}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{_n(left)}" y1="{_n(axis_y)}" x2="{_n(left + plot_w)}" '
        f'y2="{_n(axis_y)}"/>'
    )
    for tick in ticks:
        parts.append(
            f'<line class="grid" x1="{_n(x_of(tick))}" y1="{_n(top)}" x2="{_n(x_of(tick))}" '
            f'y2="{_n(axis_y)}"/>'
        )
        parts.append(
            f'<text class="tick" x="{_n(x_of(tick))}" y="{_n(axis_y + 14)}" '
            f'text-anchor="middle">{esc(value_format(round(tick, 10)))}</text>'
        )
    if zero_line and low < 0 < high:  # drawn over the grid
        parts.append(
            f'<line class="baseline" x1="{_n(x_of(0))}" y1="{_n(top)}" x2="{_n(x_of(0))}" '
            f'y2="{_n(axis_y)}"/>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
