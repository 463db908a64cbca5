"""The wire contracts of chamber's seat units, as data.

Each contract ships twice: a machine-readable file (YAML or JSON) that the codecs in
`protocols` and the simulator load, and a Markdown document for unit makers. This package
only finds and parses those files; it never opens a line, a socket or a clock, and it holds
no parsed copy between calls (callers keep what they load).
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

__all__ = ["SpecError", "load_spec", "spec_path"]


class SpecError(ValueError):
    """A contract file is missing, of an unknown kind, or not a mapping at its top."""


def spec_path(filename: str) -> Path:
    """The path of a contract file shipped in this package, e.g. "keypad_modbus.yaml"."""
    if not filename or Path(filename).name != filename:
        raise SpecError(f"a contract file name, without directories, is needed: {filename!r}")
    # The package is installed as plain files (setuptools package-data), so the
    # resource is a real path that documents and tools can be pointed at.
    path = Path(str(files(__name__).joinpath(filename)))
    if not path.is_file():
        raise SpecError(f"no contract file {filename!r} in {__name__}")
    return path


def load_spec(filename: str) -> dict[str, Any]:
    """Parse a contract file (.yaml, .yml or .json) into a fresh dict."""
    path = spec_path(filename)
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise SpecError(f"{filename!r}: only .yaml, .yml and .json contracts are known")
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise SpecError(f"{filename!r} does not parse: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{filename!r}: the top level must be a mapping")
    return data
