"""How each source arrives: `extract:` in sources.yml picks export files or an API connector."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    ],
)
def test_a_wrong_setting_names_the_file_and_the_key(tmp_path, text, message):
    path = _config(tmp_path, text)
    with pytest.raises(ValueError) as err:
        load_extract_config(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_the_committed_configuration_extracts_files(tmp_path):
    cfg = load_extract_config()
    assert set(cfg.modes.values()) == {FILES}
    assert cfg.settings["crm_sync"].get("enabled") is False
