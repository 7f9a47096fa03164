"""How far along long work is: a bar on a terminal, a log line every so often otherwise.

``generate``, a history ``extract``, the back-test (``history``), ``backfill`` and ``bench`` run
for minutes at a million contacts. Each wraps its loop in :func:`track` (or counts with
:func:`counter`), which uses tqdm:

- on a terminal (stderr is a TTY) a progress bar with rate and time left;
- otherwise (an Airflow task log, CI, a redirected file) one log line on the
  ``leadscore.progress`` logger at most every :data:`LOG_EVERY_SECONDS` seconds
  (``LEADSCORE_PROGRESS_SECONDS``, 30), and the last state when the work ends; work shorter
  than that logs nothing, so a daily run's log stays quiet;
- nothing with ``LEADSCORE_PROGRESS=off``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tqdm import tqdm

log = logging.getLogger("leadscore.progress")

T = TypeVar("T")

#: Seconds between two progress log lines when stderr is not a terminal.
LOG_EVERY_SECONDS = float(os.environ.get("LEADSCORE_PROGRESS_SECONDS", "30"))
#: Seconds between two redraws of the bar on a terminal.
BAR_EVERY_SECONDS = 0.2


#: Terminal control sequences tqdm writes to place nested bars (cursor up, clear line).
_CONTROL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class _LogLines:
    """A file for tqdm that turns each status it writes into one log record."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.last = ""

    def write(self, text: str) -> None:
        for line in _CONTROL.sub("", text).replace("\r", "\n").splitlines():
            line = line.strip()
            done = line.split(" [")[0]  # tqdm shows the final count again on close
            if line and done != self.last:
                self.logger.info("%s", line)
                self.last = done

    def flush(self) -> None:
        pass


def _options(what: str, unit: str, logger: logging.Logger | None) -> dict[str, Any]:
    off = os.environ.get("LEADSCORE_PROGRESS", "").strip().lower() in ("off", "0", "false", "no")
    terminal = sys.stderr.isatty()
    options: dict[str, Any] = {"desc": what, "unit": f" {unit}", "disable": off}
    if terminal:
        options.update(file=sys.stderr, mininterval=BAR_EVERY_SECONDS, dynamic_ncols=True)
    else:
        # one line per status, no carriage returns and no bar: readable in a log file
        options.update(
            file=_LogLines(logger or log),
            mininterval=LOG_EVERY_SECONDS,
            maxinterval=LOG_EVERY_SECONDS,
            delay=LOG_EVERY_SECONDS,  # work shorter than that logs nothing
            ascii=True,
            position=0,  # log lines are not stacked like bars
            ncols=0,  # tqdm's status without the bar: "what: 33% 2/6 [00:10<00:20, 0.2days/s]"
        )
    return options


def command_line_logging() -> None:
    """A command's logging: warnings and up, plus the progress lines (``leadscore``, bench)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)


def track(
    items: Iterable[T],
    what: str,
    *,
    total: int | None = None,
    unit: str = "steps",
    logger: logging.Logger | None = None,
) -> Iterator[T]:
    """``items``, reporting how many are done (see the module doc)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with tqdm(items, total=total, **_options(what, unit, logger)) as bar:
        yield from bar


def counter(what: str, *, total: int | None = None, unit: str = "steps", logger=None) -> tqdm:
    """A progress counter to ``update(n)`` by hand; use it as a context manager."""
    return tqdm(total=total, **_options(what, unit, logger))
