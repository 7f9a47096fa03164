"""How each source arrives: `extract:` in sources.yml picks export files or an API connector."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadscore.sources import api
from leadscore.sources.pull import FILES, load_extract_config

SHAPE = "sources:\n  crm: [companies, contacts]\n  email: [campaigns, events]\n"


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yml"
    path.write_text(SHAPE + text, encoding="utf-8")
    return path


def test_without_an_extract_section_every_source_comes_as_files(tmp_path):
    cfg = load_extract_config(_config(tmp_path, ""))
    assert set(cfg.modes.values()) == {FILES}
    assert cfg.vendor_of("crm") is None


def test_api_means_the_sources_usual_connector(tmp_path):
    cfg = load_extract_config(
        _config(tmp_path, "extract:\n  crm: api\n  email: mailchimp\nhubspot:\n  properties: all\n")
    )
    assert cfg.modes == {"crm": "hubspot", "email": "mailchimp", "web": FILES}
    assert cfg.sources_of("hubspot") == ["crm"]
    assert cfg.settings["hubspot"] == {"properties": "all"}
    assert cfg.settings["crm_sync"] == {}


def test_hubspot_can_deliver_email_too(tmp_path):
    cfg = load_extract_config(_config(tmp_path, "extract:\n  crm: hubspot\n  email: hubspot\n"))
    assert cfg.sources_of("hubspot") == ["crm", "email"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "extract:\n  crm: salesforce\n",
            "extract.crm: 'salesforce' is not `files` or a connector",
        ),
        ("extract:\n  web: api\n", "extract.web: no API connector exists for it yet"),
        ("extract:\n  crm: mailchimp\n", "extract.crm: mailchimp does not provide crm data"),
        ("extract:\n  tracker: files\n", "extract.tracker: unknown source"),
        ("extract: [crm]\n", "`extract:` must map each source"),
        ("hubspot: yes\n", "`hubspot:` must be a mapping of settings"),
        (
            "extract:\n  email: hubspot\n",
            "extract.email: hubspot does not provide email/members, which sources.email lists",
        ),
        ("hubspot:\n  propertys: all\n", "hubspot.propertys: unknown setting; hubspot reads"),
        ("mailchimp:\n  list_id: [a]\n", "mailchimp.list_id: unknown setting"),
    ],
)
def test_a_wrong_setting_names_the_file_and_the_key(tmp_path, text, message):
    path = _config(tmp_path, text)
    if "email/members" in message:
        path.write_text(
            path.read_text().replace("[campaigns, events]", "[campaigns, events, members]")
        )
    with pytest.raises(ValueError) as err:
        load_extract_config(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_the_committed_configuration_extracts_files(tmp_path):
    cfg = load_extract_config()
    assert set(cfg.modes.values()) == {FILES}
    assert cfg.settings["crm_sync"].get("enabled") is False


# ---- connections ------------------------------------------------------------------------------

PLACEHOLDER_TOKEN = "pat-na1-placeholder-0000-1111"


def test_inside_airflow_the_token_is_registered_with_the_secrets_masker(monkeypatch):
    """A library logging a request (dlt, urllib3) cannot leak the token into an Airflow task
    log: the connection registers it with Airflow's secrets masker."""
    pytest.importorskip("airflow.sdk")
    from airflow.sdk.log import _secrets_masker

    monkeypatch.setenv("LEADSCORE_HUBSPOT_TOKEN", PLACEHOLDER_TOKEN)
    conn = api.connection("hubspot", default_base_url="https://api.hubapi.com")
    assert conn.secret == PLACEHOLDER_TOKEN
    assert _secrets_masker().redact(f"Authorization: Bearer {PLACEHOLDER_TOKEN}") == (
        "Authorization: Bearer ***"
    )


def test_missing_credentials_are_an_auth_error_the_dag_does_not_retry(monkeypatch):
    monkeypatch.delenv("LEADSCORE_MAILCHIMP_TOKEN", raising=False)
    monkeypatch.setenv("LEADSCORE_MAILCHIMP_CONN_ID", "no_such_connection")
    with pytest.raises(api.ApiAuthError, match=r"mailchimp: no credentials\. Set LEADSCORE_MAIL"):
        api.connection("mailchimp", default_base_url="https://us21.api.mailchimp.com/3.0")


def test_a_password_in_the_base_url_never_shows():
    conn = api.Connection("hubspot", "X", "https://user:hunter2@proxy.example:8443/hub/?k=v", "t")
    assert conn.shown_url == "https://proxy.example:8443/hub"


def test_no_answer_is_an_api_error_naming_the_connection(monkeypatch):
    import socket

    monkeypatch.setattr(api, "BACKOFF_SECONDS", 0.01)
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    conn = api.Connection("hubspot", "LEADSCORE_HUBSPOT_TOKEN", url, PLACEHOLDER_TOKEN)
    client = api.ApiClient(conn, auth=api.bearer_auth(conn))
    with pytest.raises(api.ApiError, match=r"no answer from http://127\.0\.0\.1") as err:
        client.request("GET", "/crm/v3/properties/contacts")
    assert "LEADSCORE_HUBSPOT_TOKEN" in str(err.value) and client.requests == 0
    assert PLACEHOLDER_TOKEN not in str(err.value)
    with pytest.raises(api.ApiError, match="GET /crm/v3/objects/contacts: no answer"):
        next(iter(client.paginate("/crm/v3/objects/contacts")))
