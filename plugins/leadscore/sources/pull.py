"""One extract step: pull a source from its API when configured so, then land its files.

``expectations/sources.yml`` says how each source arrives (``extract:``): ``files`` (exports
dropped in the landing folder, the default) or an API connector (``hubspot``, ``mailchimp``;
``api`` means the source's usual one). A connector writes the documented landing files of the
run's interval (:mod:`leadscore.sources.api`); the files are then loaded by
:func:`leadscore.sources.files.extract_source` exactly like delivered exports, and only then is
the connector's cursor saved in the warehouse. So a failed pull lands nothing, a failed load
saves no cursor, and a rerun of the interval pulls it again.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType

import yaml

from leadscore import config
from leadscore.sources import SOURCES, Shape, entities_of, load_shape, shape_path
from leadscore.sources.api import PullResult, save_cursors
from leadscore.sources.files import EntityLoad, extract_source

log = logging.getLogger(__name__)

#: The connectors there are: vendor name -> module under ``leadscore.sources``.
VENDORS: dict[str, str] = {
    "hubspot": "leadscore.sources.hubspot",
    "mailchimp": "leadscore.sources.mailchimp",
}
#: What ``api`` means for each source.
DEFAULT_VENDOR: dict[str, str] = {"crm": "hubspot", "email": "mailchimp"}
FILES = "files"


@dataclass(frozen=True)
class ExtractConfig:
    """How each source arrives and each connector's settings (``sources.yml``)."""

    #: source -> ``files`` or a vendor name
    modes: dict[str, str]
    #: vendor or output name -> its settings section (``hubspot:``, ``mailchimp:``, ``crm_sync:``)
    settings: dict[str, dict] = field(default_factory=dict)
    path: Path | None = None

    def vendor_of(self, source: str) -> str | None:
        mode = self.modes.get(source, FILES)
        return None if mode == FILES else mode

    def sources_of(self, vendor: str) -> list[str]:
        return [s for s in SOURCES if self.modes.get(s) == vendor]


def load_extract_config(path: Path | None = None) -> ExtractConfig:
    """Read ``extract:`` and the connector sections of the sources configuration.

    A mistake names the file and the key; a missing ``extract:`` means every source is ``files``.
    """
    path = path or shape_path()
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    section = raw.get("extract") or {}
    if not isinstance(section, dict):
        raise ValueError(f"{path}: `extract:` must map each source to `files` or a connector")
    modes = {source: FILES for source in SOURCES}
    shape = (
        load_shape(path)
        if any(str(m or FILES).strip().lower() != FILES for m in section.values())
        else None
    )
    for source, mode in section.items():
        if source not in SOURCES:
            raise ValueError(
                f"{path}: extract.{source}: unknown source; known: {', '.join(SOURCES)}"
            )
        mode = str(mode or FILES).strip().lower()
        if mode == "api":
            if source not in DEFAULT_VENDOR:
                raise ValueError(f"{path}: extract.{source}: no API connector exists for it yet")
            mode = DEFAULT_VENDOR[source]
        if mode != FILES and mode not in VENDORS:
            raise ValueError(
                f"{path}: extract.{source}: {mode!r} is not `files` or a connector "
                f"({', '.join(VENDORS)})"
            )
        if mode != FILES and not _provides(mode, source):
            raise ValueError(f"{path}: extract.{source}: {mode} does not provide {source} data")
        if shape is not None and mode != FILES:
            missing = [
                e.qualified
                for e in entities_of(source)
                if shape.has(e) and e.qualified not in vendor_module(mode).PROVIDES
            ]
            if missing:
                raise ValueError(
                    f"{path}: extract.{source}: {mode} does not provide {', '.join(missing)}, "
                    f"which sources.{source} lists; remove it there or pull {source} from a "
                    "connector that provides it"
                )
        modes[source] = mode
    settings = {}
    for name in (*VENDORS, "crm_sync"):
        value = raw.get(name) or {}
        if not isinstance(value, dict):
            raise ValueError(f"{path}: `{name}:` must be a mapping of settings")
        known = vendor_module(name).SETTINGS if name in VENDORS else None
        unknown = sorted(set(value) - set(known)) if known is not None else []
        if unknown:
            raise ValueError(
                f"{path}: {name}.{unknown[0]}: unknown setting; {name} reads "
                f"{', '.join(known)} (docs/connectors.md)"
            )
        settings[name] = value
    return ExtractConfig(modes, settings, path)


def vendor_module(vendor: str) -> ModuleType:
    return importlib.import_module(VENDORS[vendor])


def _provides(vendor: str, source: str) -> bool:
    return any(q.startswith(f"{source}/") for q in vendor_module(vendor).PROVIDES)


def pull_and_land(
    source: str,
    start: date | datetime,
    end: date | datetime,
    *,
    warehouse: Path | None = None,
    landing: Path | None = None,
    shape: Shape | None = None,
    extract_config: ExtractConfig | None = None,
    vendor: str | None = None,
) -> list[EntityLoad]:
    """Pull ``source`` for ``[start, end)`` from its connector (if it has one), then load the
    interval's landing files into ``raw.*``; save the connector's cursors once loaded.

    ``vendor`` forces a connector (``leadscore extract --source hubspot``) whatever the
    configuration says.
    """
    warehouse = warehouse or config.warehouse_path()
    landing = landing or config.landing_dir()
    shape = shape or load_shape()
    cfg = extract_config or load_extract_config()
    vendor = vendor or cfg.vendor_of(source)
    pulled: PullResult | None = None
    if vendor:
        module = vendor_module(vendor)
        entities = [
            e for e in entities_of(source) if shape.has(e) and e.qualified in module.PROVIDES
        ]
        pulled = module.pull(
            entities,
            _aware(start),
            _aware(end),
            landing=landing,
            warehouse=warehouse,
            settings=cfg.settings.get(vendor, {}),
        )
        log.info(
            "%s: pulled %s from %s in %s requests",
            source,
            ", ".join(f"{k} {v:,}" for k, v in pulled.records.items()) or "nothing",
            vendor,
            pulled.requests,
        )
    loads = extract_source(source, start, end, warehouse=warehouse, landing=landing, shape=shape)
    if pulled is not None:
        save_cursors(warehouse, pulled.cursors)
    return loads


def _aware(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)
