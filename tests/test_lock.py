"""The dependency locks agree: uv.lock holds exactly the pins of requirements.txt (which make
install syncs from), because pyproject.toml constrains uv to them."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import ROOT


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def test_uv_lock_has_exactly_the_pins_of_requirements_txt():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        found = re.match(r"^([A-Za-z0-9._-]+)(\[[^\]]*\])?==([^\s;]+)", line)
        if found:
            pins[_name(found.group(1))] = found.group(3)
    locked = {
        _name(p["name"]): p.get("version")
        for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    }
    assert len(pins) > 200
    assert {n: (v, locked.get(n)) for n, v in pins.items() if locked.get(n) != v} == {}, (
        "uv.lock differs from requirements.txt: run `make lock` after updating "
        "[tool.uv] constraint-dependencies in pyproject.toml"
    )
    constraints = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]
    assert len(constraints["constraint-dependencies"]) == len(pins)
