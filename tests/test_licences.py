"""Every dependency's licence fits the hub's Apache-2.0 (no GPL; LGPL libraries used as is)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from tests.test_packaging import pins

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
COPYLEFT = re.compile(r"(?<![L])GPL|GNU General Public", re.IGNORECASE)


def declared_requirements() -> list[str]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    extras = project.get("optional-dependencies", {}).values()
    return [*project["dependencies"], *(r for extra in extras for r in extra)]


def distribution_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]


def licence_of(name: str) -> str:
    """What the metadata says (SPDX expression, licence field, classifiers), else the text of
    the licence files the distribution ships (imapclient declares only ``License-File``)."""
    data = metadata.metadata(name)
    classifiers = [c for c in data.get_all("Classifier") or [] if c.startswith("License")]
    declared = [data.get("License-Expression"), data.get("License"), *classifiers]
    if any(declared):
        return " | ".join(filter(None, declared))
    files = metadata.distribution(name).files or []
    shipped = [f for f in files if f.name in (data.get_all("License-File") or [])]
    return "\n".join(f.read_text() or "" for f in shipped)


@pytest.mark.parametrize("requirement", declared_requirements(), ids=distribution_name)
def test_no_dependency_is_gpl(requirement: str) -> None:
    assert_fits_apache(distribution_name(requirement))


@pytest.mark.parametrize("name", sorted(pins("hub.lock")))
def test_nothing_the_container_image_installs_is_gpl(name: str) -> None:
    """Dependencies of dependencies too: requirements/hub.lock is what the Dockerfile ships."""
    assert_fits_apache(name)


def assert_fits_apache(name: str) -> None:
    licence = licence_of(name)
    assert licence, f"{name} declares no licence in its metadata: check it by hand"
    assert not COPYLEFT.search(licence), f"{name} is {licence}: GPL does not fit Apache-2.0"
