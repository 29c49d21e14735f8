"""Dependency rules of house-style.md, checked on the source."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLUEPRINTS = ["public", "ops", "staff", "analyst", "admin", "api", "auth"]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_pure_packages_never_import_the_web_stack():
    for package in ("surveys", "analysis"):
        for path in (ROOT / package).rglob("*.py"):
            for module in imported_modules(path):
                top = module.split(".")[0]
                assert top not in {"flask", "flask_sqlalchemy", "sqlalchemy", "app", "werkzeug", "wtforms"}, (
                    f"{path.relative_to(ROOT)} imports {module}"
                )


def test_blueprints_do_not_import_each_other():
    for name in BLUEPRINTS:
        folder = ROOT / "app" / name
        if not folder.is_dir():
            continue
        for path in folder.rglob("*.py"):
            for module in imported_modules(path):
                for other in BLUEPRINTS:
                    assert other == name or not module.startswith(f"app.{other}"), (
                        f"{path.relative_to(ROOT)} imports {module}"
                    )


def test_templates_have_no_inline_scripts_or_styles():
    for path in (ROOT / "app" / "templates").rglob("*.html"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)", source), path
        assert "style=" not in source and "<style" not in source, path
        assert not re.search(r"\son[a-z]+=", source), f"inline event handler in {path}"


def test_factory_never_migrates_seeds_or_creates_tables():
    source = (ROOT / "app" / "__init__.py").read_text(encoding="utf-8")
    for forbidden in ("create_all", "upgrade(", "seed_demo", "input("):
        assert forbidden not in source


def test_create_all_only_in_tests():
    for path in (ROOT / "app").rglob("*.py"):
        assert "create_all(" not in path.read_text(encoding="utf-8"), path
