"""The layering docs/architecture.md draws, checked on the imports themselves."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("config", "connectors", "hub", "routing")


def project_imports(folder: str) -> dict[str, set[str]]:
    """For each module under ``folder``: the project packages it imports from."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = {
            top for top in (name.split(".")[0] for name in names) if top in PROJECT
        }
    return found


def test_connectors_declare_their_settings_and_import_no_config():
    importing_config = [m for m, tops in project_imports("connectors").items() if "config" in tops]
    assert importing_config == []


def test_connector_settings_import_only_shared_settings_and_routing():
    for module, tops in project_imports("connectors").items():
        if module.endswith("settings.py"):
            assert tops <= {"connectors", "routing"}, module


def test_routing_imports_nothing_of_the_project_but_itself():
    for module, tops in project_imports("routing").items():
        assert tops <= {"routing"}, module


MAX_MODULE_LINES = 400


def test_no_product_module_is_over_400_lines():
    """Past that, a module holds more than one idea; split it by meaning."""
    too_long = {
        str(path.relative_to(ROOT)): lines
        for folder in PROJECT
        for path in (ROOT / folder).rglob("*.py")
        if "migrations" not in path.parts
        and (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}
