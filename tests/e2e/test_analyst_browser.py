"""The demo analyst signs in, opens the overview, changes a filter, downloads the XLSX, and its
numbers equal those of ``python -m analysis indices`` on the exported responses with the same
options. The overview also works on a phone, with and without JavaScript."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlalchemy import select

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "mat-khau-demo-2026"


@pytest.fixture()
def demo_analyst(app, runner, db):
    result = runner.invoke(args=["sipas", "seed-demo", "--responses", "300"])
    assert result.exit_code == 0, result.output
    from app.models import User

    user = db.session.scalars(select(User).filter_by(email="analyst@demo.local")).one()
    user.set_password(PASSWORD)
    db.session.commit()
    return user


def sign_in(page, live_server: str) -> None:
    page.goto(f"{live_server}/analyst/")
    assert "/auth/login" in page.url
    page.get_by_label("Email").fill("analyst@demo.local")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{live_server}/analyst/**")


def sheet(book, column: str | None) -> pd.DataFrame:
    for worksheet in book.worksheets:
        rows = list(worksheet.iter_rows(values_only=True))
        header = list(rows[0])
        if header[:2] == ["index", "kind"] and header[2] == (column or "estimate"):
            return pd.DataFrame(rows[1:], columns=header)
    raise AssertionError(column)


def test_analyst_filters_downloads_xlsx_equal_to_the_cli(live_server, desktop, demo_analyst, tmp_path):
    sign_in(desktop, live_server)
    assert desktop.locator("h1").inner_text() == "Tổng quan"
    assert desktop.locator("svg.chart").count() == 1 and desktop.locator("table.figures tbody tr").count() == 6

    desktop.locator("details.filters summary").click()
    desktop.get_by_label("Hình thức nộp").select_option("direct")
    desktop.get_by_role("button", name="Áp dụng").click()
    desktop.wait_for_url("**channel=direct**")
    query = parse_qs(urlsplit(desktop.url).query)
    assert query["channel"] == ["direct"] and query["period"]
    assert "đã lọc" in desktop.locator("details.filters summary").inner_text()

    with desktop.expect_download() as info:
        desktop.get_by_role("link", name="Kết quả (XLSX)").click()
    workbook_path = tmp_path / "results.xlsx"
    info.value.save_as(workbook_path)
    with desktop.expect_download() as info:
        desktop.get_by_role("link", name="Phiếu khảo sát (CSV)").click()
    responses_path = tmp_path / "responses.csv"
    info.value.save_as(responses_path)

    book = load_workbook(workbook_path)
    method = " ".join(str(c) for row in book.worksheets[-1].iter_rows(values_only=True) for c in row if c)
    assert "channel=direct" in method and "--strata center_code,period" in method
    for column in (None, "center_code", "field_code"):
        out = tmp_path / f"cli-{column}.json"
        command = [sys.executable, "-m", "analysis", "indices", str(responses_path), "--out", str(out),
                   "--period", "quarter", "--strata", "center_code,period"] + (["--by", column] if column else [])
        finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        assert finished.returncode == 0, finished.stderr
        expected = pd.DataFrame(json.loads(out.read_text(encoding="utf-8"))["results"])
        actual = sheet(book, column)
        keys = ["index", "kind"] + ([column] if column else [])
        expected = expected.sort_values(keys).reset_index(drop=True)
        actual = actual.fillna({k: "" for k in keys}).sort_values(keys).reset_index(drop=True)
        assert len(actual) == len(expected) > 0
        assert (actual[keys].astype(str).to_numpy() == expected[keys].astype(str).to_numpy()).all()
        for name in ("estimate", "se", "ci_low", "ci_high", "n_eff", "deff"):
            np.testing.assert_allclose(actual[name].astype(float), expected[name].astype(float), rtol=1e-9, equal_nan=True, err_msg=name)
        assert (actual["n"].astype(int) == expected["n"].astype(int)).all()
        assert (actual["flag"].fillna("") == expected["flag"].fillna("")).all()

    overall = pd.DataFrame(json.loads((tmp_path / "cli-None.json").read_text(encoding="utf-8"))["results"])
    value = overall.loc[overall["index"] == "SIPAS", "estimate"].iloc[0]
    assert f"{value * 100:.2f}%".replace(".", ",") in desktop.locator("table.figures").inner_text()
    desktop.screenshot(path=str(tmp_path / "overview-desktop.png"), full_page=True)


def test_overview_on_a_phone(live_server, phone, demo_analyst, tmp_path):
    sign_in(phone, live_server)
    assert phone.locator("h1").inner_text() == "Tổng quan"
    width = _scroll_width(phone)
    if width is not None:
        assert width <= 360, "no horizontal scrolling of the whole page"
    assert phone.locator("svg.chart").is_visible()
    phone.get_by_role("link", name="Xu hướng").click()
    assert "Xu hướng" in phone.locator("h1").inner_text()
    phone.screenshot(path=str(tmp_path / "trend-phone.png"), full_page=True)


def _scroll_width(page) -> int | None:
    """The page's scroll width, or None where scripts are switched off."""
    try:
        return int(page.evaluate("document.documentElement.scrollWidth"))
    except Exception:
        return None
