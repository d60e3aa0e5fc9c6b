"""What the installed package says about itself; a source tree never installed says so."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, metadata, version

PACKAGE = "omnichannel-hub"


def package_version() -> str:
    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return "0+unknown"


def package_summary() -> str:
    try:
        return metadata(PACKAGE)["Summary"]
    except PackageNotFoundError:
        return "The omnichannel hub (not installed: pip install -e .)"
