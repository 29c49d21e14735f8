"""A centre's staff member signs in, opens their centre and downloads the A4 poster."""

from __future__ import annotations

import shutil
import subprocess
from urllib.parse import urlsplit

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e


def test_staff_downloads_a_poster_whose_qr_opens_their_survey(live_server, desktop, survey_center, make_user, app, tmp_path):
    for tool in ("pdftoppm", "zbarimg", "pdfinfo"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing: apt-get install poppler-utils zbar-tools")
    make_user("staff", email="canbo@example.vn", centers=[survey_center])

    desktop.goto(f"{live_server}/staff/")
    assert "/auth/login" in desktop.url
    desktop.get_by_label("Email").fill("canbo@example.vn")
    desktop.get_by_label("Mật khẩu").fill(PASSWORD)
    desktop.get_by_role("button", name="Đăng nhập").click()
    desktop.wait_for_url(f"{live_server}/staff/")

    desktop.get_by_role("link", name="Trung tâm Phục vụ hành chính công phường Thử Nghiệm").click()
    assert "Áp phích" in desktop.locator("h2").first.inner_text()
    with desktop.expect_download() as info:
        desktop.get_by_role("link", name="Áp phích A4 (PDF)").first.click()
    path = tmp_path / "poster.pdf"
    info.value.save_as(path)

    details = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    info_lines = dict(line.split(":", 1) for line in details.splitlines() if ":" in line)
    assert info_lines["Pages"].strip() == "1" and "(A4)" in info_lines["Page size"]
    subprocess.run(["pdftoppm", "-r", "150", "-png", str(path), str(tmp_path / "page")], check=True)
    [image] = tmp_path.glob("page*.png")
    decoded = subprocess.run(["zbarimg", "--raw", "-q", str(image)], capture_output=True, text=True).stdout.split()
    assert len(decoded) == 1
    url = decoded[0]
    assert url.startswith(f"{live_server}/s/qn-test?t=")

    desktop.goto(url)
    assert "Trung tâm Phục vụ hành chính công phường Thử Nghiệm" in desktop.locator("header").inner_text()
    assert urlsplit(desktop.url).path == "/s/qn-test"
