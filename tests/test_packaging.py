"""The lock files install what pyproject.toml asks for, and the majors it allows are bounded.

requirements/hub.lock (the Dockerfile) and requirements/test.lock (.ci/run) are written by
``.ci/lock``; these tests fail when pyproject.toml changed and the locks were not regenerated.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

CHECKOUT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(r) for r in PROJECT["dependencies"]]
TEST_EXTRA = [Requirement(r) for r in PROJECT["optional-dependencies"]["test"]]
PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s;]+)(?:\s*;\s*(.+))?$")
UNBOUNDED_ON_PURPOSE = {
    # Calendar or data releases, whose new "majors" are not breaking changes.
    "argon2-cffi",
    "holidays",
    "publicsuffixlist",
    # 0.x or long-stable libraries with no major release that would change what we call.
    "nh3",
    "pyspf",
    "authres",
    "pytest-timeout",
    "ruff",
}


def pins(lock: str) -> dict[str, str]:
    """The version each distribution is pinned to for this interpreter (markers evaluated)."""
    found: dict[str, str] = {}
    environment = default_environment()
    for line in (CHECKOUT / "requirements" / lock).read_text().splitlines():
        if match := PIN.match(line.strip()):
            name, version, marker = match.groups()
            if marker is None or Requirement(f"x; {marker}").marker.evaluate(environment):
                found[canonicalize_name(name)] = version
    return found


def label(requirement: Requirement) -> str:
    return requirement.name


LOCKED = [
    *((lock, requirement) for lock in ("hub.lock", "test.lock") for requirement in RUNTIME),
    *(("test.lock", requirement) for requirement in TEST_EXTRA),
]


@pytest.mark.parametrize(("lock", "requirement"), LOCKED, ids=lambda v: str(getattr(v, "name", v)))
def test_the_locks_pin_every_dependency_within_its_range(
    lock: str, requirement: Requirement
) -> None:
    pinned = pins(lock).get(canonicalize_name(requirement.name))
    assert pinned is not None, f"{lock} has no pin for {requirement}: run .ci/lock"
    assert requirement.specifier.contains(pinned, prereleases=True), (
        f"{lock} pins {requirement.name}=={pinned}, outside {requirement}: run .ci/lock"
    )


def test_both_locks_agree_on_what_they_share() -> None:
    hub, test = pins("hub.lock"), pins("test.lock")
    differing = {name: (hub[name], test[name]) for name in hub.keys() & test.keys()}
    assert {n: v for n, v in differing.items() if v[0] != v[1]} == {}
    assert hub.keys() <= test.keys()


@pytest.mark.parametrize("requirement", RUNTIME + TEST_EXTRA, ids=label)
def test_a_major_release_that_would_break_us_is_excluded(requirement: Requirement) -> None:
    if canonicalize_name(requirement.name) in UNBOUNDED_ON_PURPOSE:
        pytest.skip(f"{requirement.name} is left unbounded on purpose (see UNBOUNDED_ON_PURPOSE)")
    assert any(spec.operator == "<" for spec in requirement.specifier), (
        f"{requirement} has no upper bound"
    )
