"""Stand-in for dbt's ``var()`` (lint only): the real vars of dbt_project.yml, so models that loop
over a list or mapping var render as dbt renders them."""

import sys
import types
from pathlib import Path

import yaml

_VARS = yaml.safe_load((Path(__file__).parents[1] / "dbt_project.yml").read_text())["vars"]


class _Var(types.ModuleType):
    def __call__(self, name, default=None):
        return _VARS.get(name, default)


sys.modules[__name__].__class__ = _Var
