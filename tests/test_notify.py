"""The signal notifier: reads the serving copy, logs, posts JSON to a webhook, sends one email.

Most tests use a tiny serving file whose ``marts.score_signals`` is created from the contract in
``dbt_project/models/marts/_marts__models.yml`` (so it has the published columns and types); the
slow one reads the small world's real publish. The webhook is a local ``http.server`` in a
thread; SMTP is a recorder class in place of ``smtplib.SMTP``.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import smtplib
import sqlite3
import threading
import traceback
import urllib.parse
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import duckdb
import pytest
import yaml

from leadscore.outputs import notify
from leadscore.publish import SERVING_FILE
from tests.conftest import BASELINE_DAY, ROOT, writable_serving_copy

DAY = date(2026, 11, 18)
CHANNEL_ENV = (
    notify.WEBHOOK_ENV,
    notify.EMAIL_TO_ENV,
    notify.SMTP_HOST_ENV,
    notify.SMTP_PORT_ENV,
    notify.SMTP_FROM_ENV,
)


def contract_columns(model: str) -> list[tuple[str, str]]:
    spec = yaml.safe_load((ROOT / "dbt_project/models/marts/_marts__models.yml").read_text())
    (found,) = [m for m in spec["models"] if m["name"] == model]
    return [(c["name"], c["data_type"]) for c in found["columns"]]


SIGNALS = [
    # score_date, signal_type, signal, entity_type, entity_id, account_id, value, threshold,
    # previous, reason, owner, queue, is_new
    (DAY, "risk", "nps_detractor", "account", "C1", "C1", 3, 6, None, "NPS answer 3", None, None,
     True),
    (DAY, "handover", "crossed_sql", "contact", "P2", "C2", 84.5, 80, None,
     "lead score 84.5 crossed the SQL threshold (was MQL)", "ae@example.com", "sales-emea", True),
    (DAY, "opportunity", "seats_near_limit", "account", "C3", "C3", 0.95, 0.9, None,
     "19 active users on 20 seats", None, None, False),
    (DAY, "handover", "crossed_mql", "contact", "P4", "C1", 51.0, 50, None,
     'lead score 51 crossed the MQL threshold "<was lead>"', "sdr@example.com", "sdr-inbound",
     True),
    # the day before: never sent again
    (date(2026, 11, 17), "risk", "score_drop", "account", "C9", "C9", 20, 30, 45, "old news",
     None, None, True),
]  # fmt: skip


def make_serving(folder: Path, signals: list[tuple] = SIGNALS, day: date = DAY) -> Path:
    """A serving file with marts.lead_scores (the score date) and marts.score_signals."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SERVING_FILE
    columns = contract_columns("score_signals")
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.lead_scores (contact_id varchar, score_date date)")
        con.execute("insert into marts.lead_scores values ('P2', ?)", [day])
        con.execute(
            "create table marts.score_signals ("
            + ", ".join(f"{name} {kind}" for name, kind in columns)
            + ")"
        )
        if signals:
            con.executemany(
                f"insert into marts.score_signals values ({', '.join('?' * len(columns))})",
                signals,
            )
    path.chmod(0o444)
    return folder


@pytest.fixture(autouse=True)
def sent_log(tmp_path, monkeypatch) -> Path:
    """Each test starts with channels that were never sent anything."""
    path = tmp_path / "notify_log.sqlite"
    monkeypatch.setenv("LEADSCORE_NOTIFY_LOG", str(path))
    return path


@pytest.fixture
def serving(tmp_path, monkeypatch) -> Path:
    for name in CHANNEL_ENV:
        monkeypatch.delenv(name, raising=False)
    return make_serving(tmp_path / "serving")


class Webhook:
    """A local HTTP server that records POSTs and answers with ``status``.

    With ``auth`` (user, password) it wants HTTP basic auth and answers 401 without it. Its
    error answers quote the request path, as some real services do.
    """

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        self.auth: tuple[str, str] | None = None
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                status = hook.status
                if hook.auth and self.headers.get("Authorization") != basic(*hook.auth):
                    status = 401
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="hooks"')
                self.end_headers()
                self.wfile.write(
                    b"ok" if status < 300 else f"channel_not_found: {self.path}".encode()
                )

            def log_message(self, *args) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.base}/hooks/leadscore"

    def json(self, i: int = 0) -> dict:
        return json.loads(self.requests[i]["body"])


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    thread = threading.Thread(target=hook.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        hook.server.shutdown()
        hook.server.server_close()
        thread.join(5)


class SMTPRecorder:
    """Stands in for ``smtplib.SMTP``: records connections and messages, sends nothing."""

    sent: ClassVar[list[dict]] = []
    fail: ClassVar[bool] = False

    def __init__(self, host: str, port: int, timeout: float | None = None) -> None:
        if SMTPRecorder.fail:
            raise ConnectionRefusedError(111, "Connection refused")
        self.host, self.port, self.timeout = host, port, timeout

    def __enter__(self) -> SMTPRecorder:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def send_message(self, message) -> None:
        SMTPRecorder.sent.append(
            {"host": self.host, "port": self.port, "timeout": self.timeout, "message": message}
        )


@pytest.fixture
def smtp(monkeypatch) -> type[SMTPRecorder]:
    SMTPRecorder.sent = []
    SMTPRecorder.fail = False
    monkeypatch.setattr(smtplib, "SMTP", SMTPRecorder)
    return SMTPRecorder


def expected_rows(only_new: bool = True, day: date = DAY) -> list[dict]:
    names = [name for name, _ in contract_columns("score_signals")]
    rows = [dict(zip(names, r, strict=True)) for r in SIGNALS]
    rows = [r for r in rows if r["score_date"] == day and (r["is_new"] or not only_new)]
    order = {"handover": 0, "risk": 1, "opportunity": 2, "crossed_sql": 0, "crossed_mql": 1}
    rows.sort(key=lambda r: (order[r["signal_type"]], order.get(r["signal"], 9), r["entity_id"]))
    for r in rows:
        r["score_date"] = r["score_date"].isoformat()
        for key in ("signal_value", "threshold", "previous_value"):
            r[key] = None if r[key] is None else float(r[key])
    return rows


def test_posts_the_new_signals_as_one_json_document(serving, webhook, monkeypatch, caplog):
    monkeypatch.setenv(notify.WEBHOOK_ENV, webhook.url)
    with caplog.at_level(logging.WARNING, logger="leadscore.outputs.notify"):
        result = notify.notify_signals(serving_dir=serving)

    assert result.channels == ["webhook"]
    assert result.signals == 3 and result.score_date == DAY
    assert result.counts == {
        "handover/crossed_mql": 1,
        "handover/crossed_sql": 1,
        "risk/nps_detractor": 1,
    }
    (request,) = webhook.requests
    assert request["path"] == "/hooks/leadscore"
    assert request["headers"]["Content-Type"].startswith("application/json")
    assert webhook.json() == {"score_date": "2026-11-18", "signals": expected_rows()}
    assert [s["signal"] for s in webhook.json()["signals"]] == [
        "crossed_sql",
        "crossed_mql",
        "nps_detractor",
    ]
    assert "3 new signals for 2026-11-18" in caplog.text
    assert "posted 3 signals" in caplog.text


def test_all_signals_of_an_older_date(serving, webhook, monkeypatch):
    monkeypatch.setenv(notify.WEBHOOK_ENV, webhook.url)
    result = notify.notify_signals(DAY, serving_dir=serving, only_new=False)
    assert result.signals == 4
    assert webhook.json()["signals"] == expected_rows(only_new=False)

    result = notify.notify_signals(date(2026, 11, 17), serving_dir=serving)
    assert result.signals == 1
    assert webhook.json(1) == {
        "score_date": "2026-11-17",
        "signals": expected_rows(day=date(2026, 11, 17)),
    }


def test_webhook_failure_names_the_url_and_status(serving, webhook, monkeypatch):
    webhook.status = 500
    monkeypatch.setenv(notify.WEBHOOK_ENV, webhook.url + "?token=secret")
    with pytest.raises(notify.NotifyError) as err:
        notify.notify_signals(serving_dir=serving)
    message = str(err.value)
    shown = f"{webhook.base}/… ({notify.fingerprint(webhook.url)})"
    assert f"webhook {shown} answered HTTP 500" in message and "channel_not_found" in message
    assert "secret" not in message and "/hooks/leadscore" not in message

    closed = Webhook()  # bound, never served: nothing listens after close
    url = closed.url
    closed.server.server_close()
    monkeypatch.setenv(notify.WEBHOOK_ENV, url)
    shown = f"{closed.base}/… ({notify.fingerprint(url)})"
    with pytest.raises(
        notify.NotifyError, match=re.escape(f"webhook {shown} could not be reached")
    ):
        notify.notify_signals(serving_dir=serving)

    monkeypatch.setenv(notify.WEBHOOK_ENV, "file:///etc/passwd")
    with pytest.raises(notify.NotifyError, match="must be an http"):
        notify.notify_signals(serving_dir=serving)


def test_without_a_channel_the_signals_are_logged(serving, webhook, smtp, caplog):
    with caplog.at_level(logging.WARNING, logger="leadscore.outputs.notify"):
        result = notify.notify_signals(serving_dir=serving)
    assert result.channels == [] and result.signals == 3
    records = [r for r in caplog.records if r.name == "leadscore.outputs.notify"]
    assert all(r.levelno == logging.WARNING for r in records)
    text = caplog.text
    assert "handover/crossed_mql 1" in text and "risk/nps_detractor 1" in text
    assert "crossed_sql contact P2: lead score 84.5 crossed the SQL threshold" in text
    assert "no channel configured" in text
    assert not webhook.requests and not smtp.sent


def test_no_new_signals_sends_nothing(tmp_path, webhook, smtp, monkeypatch, caplog):
    old = [s for s in SIGNALS if not s[-1] or s[0] != DAY]
    serving = make_serving(tmp_path / "serving", old)
    monkeypatch.setenv(notify.WEBHOOK_ENV, webhook.url)
    monkeypatch.setenv(notify.EMAIL_TO_ENV, "sales@example.com")
    monkeypatch.setenv(notify.SMTP_HOST_ENV, "smtp.example.com")
    with caplog.at_level(logging.WARNING, logger="leadscore.outputs.notify"):
        result = notify.notify_signals(serving_dir=serving)
    assert result.signals == 0 and result.channels == []
    assert "no new signals for 2026-11-18" in caplog.text
    assert not webhook.requests and not smtp.sent

    # a day without any signal row: the day before is not sent again
    serving = make_serving(tmp_path / "later", SIGNALS, day=date(2026, 11, 19))
    result = notify.notify_signals(serving_dir=serving)
    assert (result.score_date, result.signals) == (date(2026, 11, 19), 0)
    assert not webhook.requests


def test_one_plain_text_email_grouped_by_type(serving, smtp, webhook, monkeypatch):
    monkeypatch.setenv(notify.WEBHOOK_ENV, webhook.url)
    monkeypatch.setenv(notify.EMAIL_TO_ENV, "sales@example.com, revops@example.com")
    monkeypatch.setenv(notify.SMTP_HOST_ENV, "smtp.example.com")
    monkeypatch.setenv(notify.SMTP_FROM_ENV, "leadscore@example.com")
    result = notify.notify_signals(serving_dir=serving)

    assert result.channels == ["webhook", "email"]
    (sent,) = smtp.sent
    assert (sent["host"], sent["port"]) == ("smtp.example.com", 25)
    assert sent["timeout"] == notify.TIMEOUT_SECONDS
    message = sent["message"]
    assert message["To"] == "sales@example.com, revops@example.com"
    assert message["From"] == "leadscore@example.com"
    assert message["Subject"] == "leadscore: 3 new signals for 2026-11-18 (2 handover, 1 risk)"
    assert message.get_content_type() == "text/plain"
    body = message.get_content()
    assert body.index("HANDOVER (2)") < body.index("crossed_sql") < body.index("crossed_mql")
    assert body.index("crossed_mql") < body.index("RISK (1)")
    assert "OPPORTUNITY" not in body  # its only signal is not new
    assert (
        "- crossed_sql: contact P2 (account C2): lead score 84.5 crossed the SQL threshold "
        "(was MQL) -> ae@example.com / sales-emea" in body
    )
    assert '"<was lead>" -> sdr@example.com / sdr-inbound' in body
    assert "- nps_detractor: account C1: NPS answer 3" in body


def test_email_configuration_errors(serving, smtp, webhook, monkeypatch):
    monkeypatch.setenv(notify.WEBHOOK_ENV, webhook.url)
    monkeypatch.setenv(notify.EMAIL_TO_ENV, "sales@example.com")
    with pytest.raises(notify.NotifyError, match="LEADSCORE_SMTP_HOST is not"):
        notify.notify_signals(serving_dir=serving)
    assert not webhook.requests  # nothing sent before the configuration is complete

    monkeypatch.setenv(notify.SMTP_HOST_ENV, "127.0.0.1")
    monkeypatch.setenv(notify.SMTP_PORT_ENV, "2525")
    smtp.fail = True
    with pytest.raises(notify.NotifyError, match=re.escape("SMTP server 127.0.0.1:2525 failed")):
        notify.notify_signals(serving_dir=serving)


def test_airflow_task_retries_a_failed_send_but_not_a_wrong_configuration(
    serving, webhook, monkeypatch
):
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setenv("LEADSCORE_SERVING_DIR", str(serving))
    run_end = datetime(2026, 11, 19, tzinfo=UTC)  # the run that scores 2026-11-18
    monkeypatch.setenv(notify.EMAIL_TO_ENV, "sales@example.com")
    with pytest.raises(AirflowFailException, match="LEADSCORE_SMTP_HOST"):
        notify.run_notify_task(run_end)
    monkeypatch.delenv(notify.EMAIL_TO_ENV)

    webhook.status = 503
    monkeypatch.setenv(notify.WEBHOOK_ENV, webhook.url)
    with pytest.raises(notify.NotifyError, match="HTTP 503") as err:
        notify.run_notify_task(run_end)
    assert not isinstance(err.value, AirflowFailException)

    webhook.status = 200
    assert notify.run_notify_task(run_end) == {
        "score_date": "2026-11-18",
        "signals": 3,
        "channels": ["webhook"],
        "counts": {"handover/crossed_sql": 1, "handover/crossed_mql": 1, "risk/nps_detractor": 1},
        "already_sent": {},
    }
    # a cleared and rerun task: logged again, sent nowhere again
    again = notify.run_notify_task(run_end)
    assert (again["channels"], again["already_sent"]) == ([], {"webhook": 3})
    assert len([r for r in webhook.requests if b'"signals"' in r["body"]]) == 2  # 503, then 200


def email_to(monkeypatch, recipients: str = "sales@example.com") -> None:
    monkeypatch.setenv(notify.EMAIL_TO_ENV, recipients)
    monkeypatch.setenv(notify.SMTP_HOST_ENV, "smtp.example.com")


def posted(webhook: Webhook) -> list[list[str]]:
    """The entity ids of each POST, in order."""
    return [
        [s["entity_id"] for s in webhook.json(i)["signals"]] for i in range(len(webhook.requests))
    ]


def test_a_rerun_does_not_send_the_same_signals_again(
    serving, webhook, smtp, sent_log, monkeypatch, caplog
):
    monkeypatch.setenv(notify.WEBHOOK_ENV, webhook.url)
    email_to(monkeypatch)
    first = notify.notify_signals(serving_dir=serving)
    assert first.channels == ["webhook", "email"] and first.already_sent == {}
    assert sent_log.exists()

    with caplog.at_level(logging.WARNING, logger="leadscore.outputs.notify"):
        again = notify.notify_signals(serving_dir=serving)  # the DAG run of the day, rerun
    assert again.signals == 3
    assert again.channels == [] and again.already_sent == {"webhook": 3, "email": 3}
    assert len(webhook.requests) == 1 and len(smtp.sent) == 1
    shown = f"webhook {webhook.base}/… ({notify.fingerprint(webhook.url)})"
    assert f"{shown} already had 3 of these 3 signals: nothing sent again" in caplog.text
    assert "3 new signals for 2026-11-18" in caplog.text  # the log still shows them

    forced = notify.notify_signals(serving_dir=serving, resend=True)
    assert forced.channels == ["webhook", "email"]
    assert posted(webhook)[1] == posted(webhook)[0] and len(smtp.sent) == 2

    # a new destination has had nothing yet
    email_to(monkeypatch, "revops@example.com")
    moved = notify.notify_signals(serving_dir=serving)
    assert moved.channels == ["email"] and moved.already_sent == {"webhook": 3}
    assert smtp.sent[-1]["message"]["To"] == "revops@example.com"


def test_a_retry_sends_only_what_a_channel_has_not_had(tmp_path, webhook, smtp, monkeypatch):
    serving = make_serving(tmp_path / "serving")
    monkeypatch.setenv(notify.WEBHOOK_ENV, webhook.url)
    email_to(monkeypatch)
    smtp.fail = True
    with pytest.raises(notify.NotifyError, match="SMTP server"):
        notify.notify_signals(serving_dir=serving)
    assert len(webhook.requests) == 1  # the webhook got the signals before email failed

    smtp.fail = False
    retry = notify.notify_signals(serving_dir=serving)  # Airflow's retry of the task
    assert retry.channels == ["email"] and retry.already_sent == {"webhook": 3}
    assert len(webhook.requests) == 1
    (sent,) = smtp.sent
    assert sent["message"]["Subject"].startswith("leadscore: 3 new signals for 2026-11-18")

    # a rerun after a data fix raises one more signal for the day: only that one goes out
    extra = (DAY, "risk", "usage_decline", "account", "C7", "C7", 0.4, 0.7, 1.0,
             "active users down 60 %", None, None, True)  # fmt: skip
    serving = make_serving(tmp_path / "rerun", [*SIGNALS, extra])
    rerun = notify.notify_signals(serving_dir=serving)
    assert rerun.signals == 4 and rerun.already_sent == {"webhook": 3, "email": 3}
    assert posted(webhook)[-1] == ["C7"]
    assert "1 new signals for 2026-11-18" in smtp.sent[-1]["message"]["Subject"]


#: A Slack-style webhook URL: the last three path parts are the secret (Teams and Discord are
#: alike); a query string may hold one too (Teams workflows' ``sig``).
SECRET_PARTS = ("T0LEADSCORE", "B0NOTIFY42", "Xq7sEcReTtOkEn0123456789", "QuErYsEcReT55")
SECRET_PATH = "/services/T0LEADSCORE/B0NOTIFY42/Xq7sEcReTtOkEn0123456789"


def assert_no_secret(where: str, text: str | bytes) -> None:
    for part in SECRET_PARTS:
        found = part.encode() in text if isinstance(text, bytes) else part in text
        assert not found, f"secret {part!r} in {where}"


def exception_text(err: BaseException) -> str:
    """What a traceback shows: the message and every exception in the chain."""
    return "".join(traceback.format_exception(err))


def test_a_secret_webhook_url_never_reaches_logs_errors_or_the_sent_log(
    serving, webhook, sent_log, monkeypatch, caplog, capsys
):
    from leadscore import cli

    url = f"{webhook.base}{SECRET_PATH}?sig=QuErYsEcReT55"
    monkeypatch.setenv(notify.WEBHOOK_ENV, url)
    monkeypatch.setenv("LEADSCORE_SERVING_DIR", str(serving))
    caplog.set_level(logging.DEBUG)

    assert cli.main(["notify"]) == 0  # sent; then a rerun: already sent
    assert cli.main(["notify"]) == 0
    assert [r["path"] for r in webhook.requests] == [f"{SECRET_PATH}?sig=QuErYsEcReT55"]
    shown = f"{webhook.base}/… ({notify.fingerprint(url)})"
    assert f"to {shown}" in caplog.text and f"webhook {shown} already had 3" in caplog.text

    webhook.status = 404  # its answer quotes the path
    with pytest.raises(notify.NotifyError, match="HTTP 404") as failed:
        notify.notify_signals(serving_dir=serving, resend=True)
    assert_no_secret("the error", exception_text(failed.value))
    assert cli.main(["notify", "--resend"]) == 1

    closed = Webhook()  # nothing listens
    closed.server.server_close()
    monkeypatch.setenv(notify.WEBHOOK_ENV, f"{closed.base}{SECRET_PATH}")
    with pytest.raises(notify.NotifyError, match="could not be reached") as unreachable:
        notify.notify_signals(serving_dir=serving)
    assert_no_secret("the error", exception_text(unreachable.value))

    # a password with an unescaped ':' reads as a port: a configuration error, URL not shown
    monkeypatch.setenv(notify.WEBHOOK_ENV, f"http://leadscore:QuErYsEcReT55{SECRET_PATH}")
    with pytest.raises(notify.NotifyConfigError, match="port that is not a number") as wrong:
        notify.notify_signals(serving_dir=serving)
    assert_no_secret("the error", exception_text(wrong.value))
    assert cli.main(["notify"]) == 1

    out, err = capsys.readouterr()
    assert "error: webhook http://127.0.0.1" in err
    assert_no_secret("the command's output", out + err)
    assert_no_secret("the log", caplog.text)
    assert_no_secret("the sent log", sent_log.read_bytes())


def test_a_sent_log_keyed_by_the_raw_url_is_rekeyed(serving, webhook, sent_log, monkeypatch):
    """A log written before channels were keyed by a hash holds the URL: it is rekeyed and
    rewritten without it, and what it recorded still counts."""
    url = f"{webhook.base}{SECRET_PATH}"
    with closing(sqlite3.connect(sent_log)) as con, con:
        con.execute(
            """create table sent (channel text not null, score_date text not null,
            signal text not null, entity_type text not null, entity_id text not null,
            sent_at text not null,
            primary key (channel, score_date, signal, entity_type, entity_id))"""
        )
        con.executemany(
            "insert into sent values (?, ?, ?, ?, ?, '2026-11-19T00:05:00+00:00')",
            [(f"webhook {url}", *notify.signal_key(s)[:4]) for s in expected_rows()],
        )
    assert SECRET_PARTS[2].encode() in sent_log.read_bytes()

    monkeypatch.setenv(notify.WEBHOOK_ENV, url)
    result = notify.notify_signals(serving_dir=serving)
    assert result.already_sent == {"webhook": 3} and not webhook.requests
    assert_no_secret("the sent log", sent_log.read_bytes())


def test_a_webhook_url_with_user_and_password_sends_basic_auth(
    serving, webhook, monkeypatch, caplog
):
    password = "p@ss:w0rd/QuErYsEcReT55"  # characters a URL must escape
    webhook.auth = ("leadscore", password)
    quoted = urllib.parse.quote(password, safe="")
    netloc = webhook.base.removeprefix("http://")
    monkeypatch.setenv(notify.WEBHOOK_ENV, f"http://leadscore:{quoted}@{netloc}/hooks/leadscore")
    caplog.set_level(logging.DEBUG)

    result = notify.notify_signals(serving_dir=serving)
    assert result.channels == ["webhook"]
    (request,) = webhook.requests
    assert request["headers"]["Authorization"] == basic("leadscore", password)
    assert request["path"] == "/hooks/leadscore"

    monkeypatch.setenv(notify.WEBHOOK_ENV, f"http://leadscore:wrong{quoted}@{netloc}/hooks/x")
    with pytest.raises(notify.NotifyError, match="answered HTTP 401") as refused:
        notify.notify_signals(serving_dir=serving)
    assert_no_secret("the error", exception_text(refused.value))
    assert_no_secret("the log", caplog.text)


@pytest.mark.slow
def test_notifies_the_small_worlds_published_signals(small_world, tmp_path, webhook, monkeypatch):
    folder = tmp_path / "serving"
    copy = writable_serving_copy(small_world.serving, folder)
    with duckdb.connect(str(copy)) as con:
        con.execute(
            """insert into marts.score_signals (score_date, signal_type, signal, entity_type,
                entity_id, account_id, reason, is_new)
            values (?, 'risk', 'score_drop', 'account', 'CX', 'CX', 'seen yesterday', false)""",
            [BASELINE_DAY],
        )
        expected = con.execute(
            """select * from marts.score_signals where score_date = ? and is_new""",
            [BASELINE_DAY],
        ).fetchall()
    monkeypatch.setenv(notify.WEBHOOK_ENV, webhook.url)
    for name in CHANNEL_ENV[1:]:
        monkeypatch.delenv(name, raising=False)
    result = notify.notify_signals(serving_dir=folder)

    posted = webhook.json()
    assert posted["score_date"] == BASELINE_DAY.isoformat()
    assert result.signals == len(posted["signals"]) == len(expected) > 0
    assert all(s["is_new"] for s in posted["signals"])
    assert sorted((s["signal"], s["entity_id"]) for s in posted["signals"]) == sorted(
        (r[2], r[4]) for r in expected
    )
    assert "CX" not in {s["entity_id"] for s in posted["signals"]}
