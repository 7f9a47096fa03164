"""Send the day's new signals (``marts.score_signals``) to the people who act on them.

``notify_signals`` reads the published serving copy (read-only), always logs a summary at
WARNING level (it shows in the Airflow task log), and then sends to the channels the environment
configures:

- ``LEADSCORE_SIGNALS_WEBHOOK``: a URL that gets one JSON POST
  ``{"score_date": "YYYY-MM-DD", "signals": [{...one row of marts.score_signals...}, ...]}``;
- ``LEADSCORE_SIGNALS_EMAIL_TO`` (comma-separated addresses) with ``LEADSCORE_SMTP_HOST``,
  ``LEADSCORE_SMTP_PORT`` (default 25) and ``LEADSCORE_SMTP_FROM``: one plain-text email, the
  signals grouped by type, handovers first with their owner and queue.

By default only signals with ``is_new`` are sent: a signal raised again the next day is not
news. A channel that fails raises ``NotifyError`` (naming the URL or SMTP server), so the Airflow
task fails and is retried.

Each channel remembers what it was sent in a small SQLite file (``LEADSCORE_NOTIFY_LOG``, default
``data/notify_log.sqlite``): one row per channel, score date, signal and entity. A rerun of the
day, or a retry after one channel failed, sends a channel only the signals it has not had yet, so
sales is not pinged twice for the same handover. ``resend=True`` (``leadscore notify --resend``)
sends everything again. A channel is its destination (the webhook URL without query string, the
email recipients), so pointing the webhook somewhere new sends the day's signals there.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import socket
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path

from leadscore import config
from leadscore.report import SIGNAL_TYPE_ORDER, current_score_date, open_serving, signal_rows

log = logging.getLogger(__name__)

WEBHOOK_ENV = "LEADSCORE_SIGNALS_WEBHOOK"
EMAIL_TO_ENV = "LEADSCORE_SIGNALS_EMAIL_TO"
SMTP_HOST_ENV = "LEADSCORE_SMTP_HOST"
SMTP_PORT_ENV = "LEADSCORE_SMTP_PORT"
SMTP_FROM_ENV = "LEADSCORE_SMTP_FROM"
#: Seconds a webhook or SMTP server may take before the send counts as failed.
TIMEOUT_SECONDS = 30
#: Reasons quoted in the log summary.
LOGGED_REASONS = 5


class NotifyError(RuntimeError):
    """A configured channel could not be reached or refused the signals."""


class NotifyConfigError(NotifyError):
    """A channel is configured incompletely or wrongly: retrying cannot help."""


@dataclass
class NotifyResult:
    score_date: date
    signals: int
    channels: list[str] = field(default_factory=list)  # channels that were sent something now
    counts: dict[str, int] = field(default_factory=dict)  # "signal_type/signal" -> signals
    already_sent: dict[str, int] = field(default_factory=dict)  # channel -> signals not resent


#: What identifies one notification: a signal about an entity on a score date.
SignalKey = tuple[str, str, str, str]


def signal_key(signal: dict) -> SignalKey:
    return (
        str(signal["score_date"]),
        str(signal["signal"]),
        str(signal["entity_type"]),
        str(signal["entity_id"]),
    )


class SentLog:
    """Which signals each channel has been sent (SQLite: safe for two notify tasks at once)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config.notify_log_path()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=TIMEOUT_SECONDS)
        con.execute(
            """create table if not exists sent (
                channel text not null,
                score_date text not null,
                signal text not null,
                entity_type text not null,
                entity_id text not null,
                sent_at text not null,
                primary key (channel, score_date, signal, entity_type, entity_id)
            )"""
        )
        return con

    def sent(self, channel: str, score_date: date) -> set[SignalKey]:
        if not self.path.exists():
            return set()
        with closing(self._connect()) as con:
            rows = con.execute(
                """select score_date, signal, entity_type, entity_id from sent
                where channel = ? and score_date = ?""",
                (channel, score_date.isoformat()),
            ).fetchall()
        return {tuple(r) for r in rows}

    def record(self, channel: str, signals: Iterable[dict]) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with closing(self._connect()) as con, con:
            con.executemany(
                "insert or replace into sent values (?, ?, ?, ?, ?, ?)",
                [(channel, *signal_key(s), now) for s in signals],
            )


def _jsonable(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def load_signals(
    score_date: date | None = None, *, serving_dir: Path | None = None, only_new: bool = True
) -> tuple[date, list[dict]]:
    """The score date (default: the current publish) and its signal rows, handovers first.

    The default is the score date of ``marts.lead_scores``, not the newest date in
    ``score_signals``: on a day without any signal, the newest signals are an older day's, and
    sending them again would be wrong.
    """
    with open_serving(serving_dir) as con:
        day = score_date or current_score_date(con)
        rows = signal_rows(con, day, only_new=only_new)
    return day, [{k: _jsonable(v) for k, v in row.items()} for row in rows]


def summarize(score_date: date, signals: list[dict], *, only_new: bool) -> str:
    what = "new signals" if only_new else "signals"
    counts = Counter(f"{s['signal_type']}/{s['signal']}" for s in signals)
    lines = [
        f"{len(signals):,} {what} for {score_date}: "
        + ", ".join(f"{name} {n:,}" for name, n in counts.items())
    ]
    for s in signals[:LOGGED_REASONS]:
        lines.append(f"  {s['signal']} {s['entity_type']} {s['entity_id']}: {s['reason']}")
    if len(signals) > LOGGED_REASONS:
        lines.append(f"  … and {len(signals) - LOGGED_REASONS:,} more")
    return "\n".join(lines)


def _display_url(url: str) -> str:
    """The URL for messages: without user, password or query string (they may hold secrets)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def post_webhook(url: str, score_date: date, signals: list[dict]) -> None:
    """POST ``{"score_date", "signals"}`` as JSON; any answer but 2xx raises ``NotifyError``."""
    shown = _display_url(url)
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise NotifyConfigError(f"{WEBHOOK_ENV} must be an http(s) URL, not {shown!r}")
    body = json.dumps(
        {"score_date": score_date.isoformat(), "signals": signals}, ensure_ascii=False
    ).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "leadscore"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as err:
        detail = err.read(300).decode("utf-8", "replace").strip()
        raise NotifyError(
            f"webhook {shown} answered HTTP {err.code} {err.reason}"
            + (f": {detail}" if detail else "")
        ) from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise NotifyError(f"webhook {shown} could not be reached: {reason}") from err
    if not 200 <= status < 300:
        raise NotifyError(f"webhook {shown} answered HTTP {status}")
    log.warning("posted %d signals for %s to %s (HTTP %s)", len(signals), score_date, shown, status)


def email_body(score_date: date, signals: list[dict], *, only_new: bool) -> str:
    what = "New signals" if only_new else "Signals"
    lines = [f"{what} for {score_date}: {len(signals):,}", ""]
    kinds = sorted(
        {s["signal_type"] for s in signals},
        key=lambda k: (SIGNAL_TYPE_ORDER.index(k) if k in SIGNAL_TYPE_ORDER else 99, k),
    )
    for kind in kinds:
        of_kind = [s for s in signals if s["signal_type"] == kind]
        heading = f"{kind.upper()} ({len(of_kind):,})"
        lines += [heading, "-" * len(heading)]
        for s in of_kind:
            entity = f"{s['entity_type']} {s['entity_id']}"
            account = s.get("account_id")
            if account and account != s["entity_id"]:
                entity += f" (account {account})"
            line = f"- {s['signal']}: {entity}: {s['reason']}"
            routed = [v for v in (s.get("owner"), s.get("queue")) if v]
            if routed:
                line += f" -> {' / '.join(routed)}"
            lines.append(line)
        lines.append("")
    lines.append("From marts.score_signals in the published serving copy (docs/bi.md).")
    return "\n".join(lines)


def send_email(
    recipients: list[str],
    score_date: date,
    signals: list[dict],
    *,
    host: str,
    port: int,
    sender: str,
    only_new: bool = True,
) -> None:
    counts = Counter(s["signal_type"] for s in signals)
    kinds = ", ".join(f"{counts[k]} {k}" for k in SIGNAL_TYPE_ORDER if counts.get(k))
    message = EmailMessage()
    message["Subject"] = (
        f"leadscore: {len(signals)} {'new ' if only_new else ''}signals for {score_date}"
        + (f" ({kinds})" if kinds else "")
    )
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message.set_content(email_body(score_date, signals, only_new=only_new))
    try:
        with smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS) as smtp:
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as err:
        raise NotifyError(f"email via SMTP server {host}:{port} failed: {err}") from err
    log.warning(
        "emailed %d signals for %s to %s via %s:%s",
        len(signals),
        score_date,
        ", ".join(recipients),
        host,
        port,
    )


@dataclass
class _EmailConfig:
    recipients: list[str]
    host: str
    port: int
    sender: str


def _email_config() -> _EmailConfig | None:
    """The email channel from the environment; None when it is not configured."""
    recipients = [a.strip() for a in os.environ.get(EMAIL_TO_ENV, "").split(",") if a.strip()]
    if not recipients:
        return None
    host = os.environ.get(SMTP_HOST_ENV, "").strip()
    if not host:
        raise NotifyConfigError(f"{EMAIL_TO_ENV} is set but {SMTP_HOST_ENV} is not")
    port_text = os.environ.get(SMTP_PORT_ENV, "").strip() or "25"
    try:
        port = int(port_text)
    except ValueError as err:
        raise NotifyConfigError(
            f"{SMTP_PORT_ENV} must be a port number, not {port_text!r}"
        ) from err
    sender = os.environ.get(SMTP_FROM_ENV, "").strip() or f"leadscore@{socket.getfqdn()}"
    return _EmailConfig(recipients, host, port, sender)


def notify_signals(
    score_date: date | None = None,
    *,
    serving_dir: Path | None = None,
    only_new: bool = True,
    resend: bool = False,
    sent_log: SentLog | None = None,
) -> NotifyResult:
    """Log the day's (new) signals and send each configured channel those it has not had yet.

    ``resend`` sends every selected signal again, whatever the channels were sent before.
    """
    webhook = os.environ.get(WEBHOOK_ENV, "").strip()
    if webhook and urllib.parse.urlsplit(webhook).scheme not in ("http", "https"):
        raise NotifyConfigError(
            f"{WEBHOOK_ENV} must be an http(s) URL, not {_display_url(webhook)!r}"
        )
    email = _email_config()  # a misconfigured channel fails before anything is sent
    day, signals = load_signals(score_date, serving_dir=serving_dir, only_new=only_new)
    result = NotifyResult(
        day,
        len(signals),
        counts=dict(Counter(f"{s['signal_type']}/{s['signal']}" for s in signals)),
    )
    if not signals:
        log.warning("no %ssignals for %s: nothing sent", "new " if only_new else "", day)
        return result
    log.warning("%s", summarize(day, signals, only_new=only_new))
    sent_log = sent_log or SentLog()
    channels = []
    if webhook:
        channels.append(("webhook", f"webhook {_display_url(webhook)}"))
    if email:
        channels.append(("email", f"email {', '.join(sorted(email.recipients))}"))
    for name, destination in channels:
        seen = set() if resend else sent_log.sent(destination, day)
        pending = [s for s in signals if signal_key(s) not in seen]
        if len(pending) < len(signals):
            result.already_sent[name] = len(signals) - len(pending)
            log.warning(
                "%s already had %d of these %d signals: %s (resend: leadscore notify --resend)",
                destination,
                len(signals) - len(pending),
                len(signals),
                f"sending the other {len(pending)}" if pending else "nothing sent again",
            )
        if not pending:
            continue
        if name == "webhook":
            post_webhook(webhook, day, pending)
        else:
            send_email(
                email.recipients,
                day,
                pending,
                host=email.host,
                port=email.port,
                sender=email.sender,
                only_new=only_new,
            )
        sent_log.record(destination, pending)  # only after the channel accepted them
        result.channels.append(name)
    if not channels:
        log.warning(
            "no channel configured (%s, %s): the signals are only in this log",
            WEBHOOK_ENV,
            EMAIL_TO_ENV,
        )
    return result


def run_notify_task(data_interval_end: datetime | None = None) -> dict:
    """Airflow task (after ``publish``): send the new signals of the run's score date.

    A channel that fails raises ``NotifyError`` and the task is retried (a retry sends each
    channel only what it has not had yet); a configuration error fails it at once.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from leadscore.orchestration import interval_score_date

    try:
        result = notify_signals(interval_score_date(data_interval_end))
    except NotifyConfigError as err:
        raise AirflowFailException(str(err)) from err
    return {
        "score_date": result.score_date.isoformat(),
        "signals": result.signals,
        "channels": result.channels,
        "counts": result.counts,
        "already_sent": result.already_sent,
    }
