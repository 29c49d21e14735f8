"""The Vietnamese catalog is complete and the template is up to date with the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "app/translations/vi/LC_MESSAGES/messages.po"
TEMPLATE = ROOT / "app/translations/messages.pot"


def load(path: Path):
    with path.open("rb") as handle:
        return read_po(handle)


def test_vietnamese_catalog_has_no_untranslated_or_fuzzy_message():
    catalog = load(CATALOG)
    problems = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
    assert problems == []


def test_catalog_matches_the_strings_in_the_code(tmp_path):
    extracted = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_l",
         "-k", "lazy_gettext", "--no-location", "-o", str(extracted), "."],
        cwd=ROOT, check=True, capture_output=True,
    )
    in_code = {m.id for m in load(extracted) if m.id}
    assert in_code == {m.id for m in load(TEMPLATE) if m.id}, "run `make translations-update`"
    assert in_code == {m.id for m in load(CATALOG) if m.id}


def test_vietnamese_translations_keep_placeholders():
    import re

    for message in load(CATALOG):
        if message.id:
            assert sorted(re.findall(r"%\(\w+\)\w", message.id)) == sorted(re.findall(r"%\(\w+\)\w", message.string))
