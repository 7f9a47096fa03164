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
news. A channel that fails raises ``NotifyError`` (naming the webhook or SMTP server), so the
Airflow task fails and is retried.

A webhook URL is a secret: Slack, Teams and Discord put the key in its path
(``https://hooks.slack.com/services/T…/B…/<key>``), Teams workflows in its query string. Messages
show only its scheme and host and a fingerprint, ``https://hooks.slack.com/… (3f9a0c12)``: the
first 8 hex digits of the SHA-256 of the URL without user, password and query string
(``printf %s https://hooks.slack.com/services/… | sha256sum``), enough to tell two webhooks apart.
Error texts from the server are scrubbed of the URL's parts. ``user:password@`` in the URL is sent
as HTTP basic auth (and never shown).

Each channel remembers what it was sent in a small SQLite file (``LEADSCORE_NOTIFY_LOG``, default
``data/notify_log.sqlite``): one row per channel, score date, signal and entity. A rerun of the
day, or a retry after one channel failed, sends a channel only the signals it has not had yet, so
sales is not pinged twice for the same handover. ``resend=True`` (``leadscore notify --resend``)
sends everything again. A channel is its destination (the webhook URL without user, password and
query string, the email recipients), so pointing the webhook somewhere new sends the day's signals
there. The log keys a webhook by the SHA-256 of that URL, never the URL itself; a log written
before keeps its records, rekeyed (and the file rewritten without the URLs) on first use.
"""

from __future__ import annotations

import hashlib
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
from leadscore.outputs.report import (
    SIGNAL_TYPE_ORDER,
    current_score_date,
    open_serving,
    signal_rows,
)

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
#: Hex digits of a webhook's SHA-256 shown in messages (the log keeps all 64).
FINGERPRINT_DIGITS = 8
#: Path parts at least this long are taken for keys and scrubbed from error texts (Slack's,
#: Teams' and Discord's keys and ids are 9 to 68 characters; "services" or "webhooks" are shorter).
SECRET_PART_MIN_CHARS = 9
#: Error text from a webhook's answer quoted in a NotifyError.
QUOTED_ANSWER_CHARS = 300


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
        self._rekey_raw_urls(con)
        return con

    @staticmethod
    def _rekey_raw_urls(con: sqlite3.Connection) -> None:
        """Logs written before webhooks were keyed by a hash hold ``webhook <url>``: rekey them
        and rewrite the file, so the URL is not left in free pages either."""
        raw = [
            r[0]
            for r in con.execute(
                """select distinct channel from sent
                where channel like 'webhook %://%' and channel not like 'webhook % sha256:%'"""
            ).fetchall()
        ]
        if not raw:
            return
        with con:
            for channel in raw:
                con.execute(
                    "update or replace sent set channel = ? where channel = ?",
                    (webhook_channel(channel.removeprefix("webhook ")), channel),
                )
        con.execute("vacuum")
        log.warning("rekeyed %d webhook(s) in the notify log by hash", len(raw))

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


def check_webhook_url(url: str) -> None:
    """Raise ``NotifyConfigError`` unless ``url`` is an http(s) URL with a host and valid port
    (the message never repeats the URL: a password with a ':' would show as the port)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise NotifyConfigError(f"{WEBHOOK_ENV} must be an http(s) URL, not {_display_url(url)!r}")
    try:
        parts.port  # noqa: B018 (parsing it is the check)
    except ValueError:
        raise NotifyConfigError(
            f"{WEBHOOK_ENV} has a port that is not a number; a ':', '@' or '/' in its user or "
            "password must be written %3A, %40 or %2F"
        ) from None
    if not parts.hostname:
        raise NotifyConfigError(f"{WEBHOOK_ENV} has no host: {_display_url(url)!r}")


def _origin(parts: urllib.parse.SplitResult) -> str:
    """``scheme://host[:port]``, without user and password (the URL passed the check)."""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}"


def _destination(url: str) -> str:
    """The webhook without user, password, query string and fragment: what it posts to."""
    parts = urllib.parse.urlsplit(url)
    return _origin(parts) + parts.path


def fingerprint(url: str) -> str:
    """Short SHA-256 of the webhook's destination: tells webhooks apart without showing them."""
    return hashlib.sha256(_destination(url).encode("utf-8")).hexdigest()[:FINGERPRINT_DIGITS]


def webhook_channel(url: str) -> str:
    """The webhook's key in the notify log: its origin and the full SHA-256 of its destination."""
    digest = hashlib.sha256(_destination(url).encode("utf-8")).hexdigest()
    return f"webhook {_origin(urllib.parse.urlsplit(url))} sha256:{digest}"


def _display_url(url: str) -> str:
    """The webhook for messages: scheme, host and fingerprint (path and query hold secrets)."""
    parts = urllib.parse.urlsplit(url)
    try:
        return f"{_origin(parts)}/… ({fingerprint(url)})"
    except ValueError:  # not a URL check_webhook_url lets through
        return f"{parts.scheme or '(no scheme)'}:…"


def _secrets(url: str) -> list[str]:
    """The parts of ``url`` an error text must not repeat, longest first."""
    parts = urllib.parse.urlsplit(url)
    found = {url, _destination(url), parts.path, parts.query, parts.password}
    found.update(p for p in parts.path.split("/") if len(p) >= SECRET_PART_MIN_CHARS)
    if parts.username and len(parts.username) >= SECRET_PART_MIN_CHARS:  # a token as user
        found.add(parts.username)
    found.update(value for _, value in urllib.parse.parse_qsl(parts.query))
    found.update([urllib.parse.unquote(s) for s in found if s])
    return sorted((s for s in found if s and s != "/"), key=len, reverse=True)


def _scrub(text: str, url: str) -> str:
    for secret in _secrets(url):
        text = text.replace(secret, "…")
    return text


def _request(url: str, body: bytes) -> tuple[urllib.request.Request, urllib.request.OpenerDirector]:
    """The POST and an opener; ``user:password@`` in the URL becomes HTTP basic auth."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    target = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    request = urllib.request.Request(
        target,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "leadscore"},
    )
    handlers = []
    if parts.username is not None:
        passwords = urllib.request.HTTPPasswordMgrWithPriorAuth()
        passwords.add_password(
            None,
            target,
            urllib.parse.unquote(parts.username),
            urllib.parse.unquote(parts.password or ""),
            is_authenticated=True,  # send it with the first request, not after a 401
        )
        handlers.append(urllib.request.HTTPBasicAuthHandler(passwords))
    return request, urllib.request.build_opener(*handlers)


def post_webhook(url: str, score_date: date, signals: list[dict]) -> None:
    """POST ``{"score_date", "signals"}`` as JSON; any answer but 2xx raises ``NotifyError``.

    No message or exception chain carries the URL's path, query string or password.
    """
    check_webhook_url(url)
    shown = _display_url(url)
    body = json.dumps(
        {"score_date": score_date.isoformat(), "signals": signals}, ensure_ascii=False
    ).encode("utf-8")
    failure = None
    try:
        request, opener = _request(url, body)
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as err:
        detail = err.read(QUOTED_ANSWER_CHARS).decode("utf-8", "replace").strip()
        err.close()
        failure = f"answered HTTP {err.code} {err.reason}" + (f": {detail}" if detail else "")
    except (urllib.error.URLError, OSError, ValueError) as err:
        failure = f"could not be reached: {getattr(err, 'reason', err)}"
    if failure:  # raised here, outside the except: no chained exception repeats the URL
        raise NotifyError(f"webhook {shown} {_scrub(failure, url)}")
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
    if webhook:
        check_webhook_url(webhook)
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
    channels = []  # (name, key in the sent log, how messages show it)
    if webhook:
        channels.append(("webhook", webhook_channel(webhook), f"webhook {_display_url(webhook)}"))
    if email:
        recipients = f"email {', '.join(sorted(email.recipients))}"
        channels.append(("email", recipients, recipients))
    for name, destination, shown in channels:
        seen = set() if resend else sent_log.sent(destination, day)
        pending = [s for s in signals if signal_key(s) not in seen]
        if len(pending) < len(signals):
            result.already_sent[name] = len(signals) - len(pending)
            log.warning(
                "%s already had %d of these %d signals: %s (resend: leadscore notify --resend)",
                shown,
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
