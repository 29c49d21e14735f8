"""The analyst's workspace: pages, filters in the URL, numbers equal to the CLI's, downloads,
weighting totals, review of flagged responses, small cells and the audit log.

Runs on SQLite and, with DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from analysis import PostStratification, Totals, add_period, compute_indices
from analysis.cli import main as cli_main
from analysis.io import read_responses
from app.models import AuditEvent, Response, ResponseFlag, ResponseReview
from surveys import load_instrument

FULL = "sipas-dvhcc-2023@1"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture()
def demo(app, runner, db):
    result = runner.invoke(args=["sipas", "seed-demo", "--responses", "300"])
    assert result.exit_code == 0, result.output
    return db


@pytest.fixture()
def analyst(app, demo, make_user, sign_in):
    user = make_user("analyst", email="phantich@example.vn")
    return sign_in(app.test_client(), user), user


def latest_quarter(client) -> str:
    page = client.get("/analyst/").get_data(as_text=True)
    return re.search(r'<option value="(\d{4}-Q[1-4])" selected>', page).group(1)


def cli_results(tmp_path, responses_csv: bytes, *options: str) -> pd.DataFrame:
    source = tmp_path / "responses.csv"
    source.write_bytes(responses_csv)
    out = tmp_path / "results.json"
    assert cli_main(["indices", str(source), "--out", str(out), *options]) == 0
    return pd.DataFrame(json.loads(out.read_text(encoding="utf-8"))["results"])


def sheet_frame(book, column: str | None) -> pd.DataFrame:
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        header = list(rows[0])
        if header[:2] == ["index", "kind"] and ((column is None and header[2] == "estimate") or (column is not None and header[2] == column)):
            return pd.DataFrame(rows[1:], columns=header)
    raise AssertionError(f"no sheet for {column}")


def assert_same_results(left: pd.DataFrame, right: pd.DataFrame, by: list[str]) -> None:
    keys = ["index", "kind", *by]
    left = left.fillna({c: "" for c in keys}).astype({c: str for c in keys}).sort_values(keys).reset_index(drop=True)
    right = right.fillna({c: "" for c in keys}).astype({c: str for c in keys}).sort_values(keys).reset_index(drop=True)
    assert len(left) == len(right) > 0
    assert (left[keys].to_numpy() == right[keys].to_numpy()).all()
    for column in ("estimate", "se", "ci_low", "ci_high", "n_eff", "deff"):
        np.testing.assert_allclose(
            pd.to_numeric(left[column]).astype(float), pd.to_numeric(right[column]).astype(float), rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=column
        )
    assert (left["n"].astype(int).to_numpy() == right["n"].astype(int).to_numpy()).all()
    assert (left["flag"].fillna("").to_numpy() == right["flag"].fillna("").to_numpy()).all()


def test_every_page_renders_in_vietnamese_with_babel_numbers(analyst):
    client, _ = analyst
    pages = [
        "/analyst/", "/analyst/elements/TT", "/analyst/breakdowns/center", "/analyst/breakdowns/commune",
        "/analyst/breakdowns/level", "/analyst/breakdowns/field?index=KQ", "/analyst/breakdowns/channel",
        "/analyst/trend", "/analyst/trend?per=month&index=CC", "/analyst/ranking", "/analyst/ranking?target=0.9", "/analyst/ranking?center=qn-ha-long", "/analyst/perceptions",
        "/analyst/drivers?per=year", "/analyst/drivers?instrument=sipas-kiosk-2023@1",
        "/analyst/comments", "/analyst/review", "/analyst/weighting", "/analyst/?per=year",
        "/analyst/?instrument=sipas-kiosk-2023@1", "/analyst/perceptions?instrument=sipas-kiosk-2023@1",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        assert 'lang="vi"' in html and "style=" not in html and "<script" not in html, url
    overview = client.get("/analyst/").get_data(as_text=True)
    assert "Tổng quan" in overview and "Tiếp cận dịch vụ" in overview
    assert re.search(r"\d{1,3},\d{2}%", overview), "percentages go through Babel (94,07%)"
    assert "<svg" in overview and "<title" in overview and "<desc" in overview and "<table" in overview
    english = client.get("/analyst/?lang=en").get_data(as_text=True)
    assert re.search(r"\d{1,3}\.\d{2}%", english)


def test_overview_numbers_equal_the_cli_on_the_exported_responses(analyst, tmp_path):
    client, _ = analyst
    quarter = latest_quarter(client)
    previous = f"{quarter[:4]}-Q{int(quarter[-1]) - 1}" if quarter[-1] != "1" else f"{int(quarter[:4]) - 1}-Q4"
    exported = client.get(f"/analyst/responses.csv?period={quarter}")
    assert exported.status_code == 200
    expected = cli_results(tmp_path, exported.data, "--period", "quarter", "--strata", "center_code,period")
    html = client.get(f"/analyst/?period={quarter}").get_data(as_text=True)
    sipas = expected[expected["index"] == "SIPAS"].iloc[0]
    shown = f"{sipas['estimate'] * 100:.2f}%".replace(".", ",")
    assert shown in html
    # Change from the previous quarter: difference of the two CLI estimates.
    before = client.get(f"/analyst/responses.csv?period={previous}")
    earlier = cli_results(tmp_path, before.data, "--period", "quarter", "--strata", "center_code,period")
    difference = sipas["estimate"] - earlier[earlier["index"] == "SIPAS"].iloc[0]["estimate"]
    sign = "+" if difference > 0 else "−"
    assert f"{sign}{abs(difference) * 100:.2f}".replace(".", ",") in html


def test_filters_live_in_the_url_and_bad_values_get_400(analyst):
    client, _ = analyst
    page = client.get("/analyst/?center=qn-ha-long&channel=direct&flagged=exclude").get_data(as_text=True)
    assert 'value="qn-ha-long" selected' in page and 'value="exclude" selected' in page
    assert "center=qn-ha-long" in page and "flagged=exclude" in page  # links keep the filters
    for query in ("center=nope", "period=2026-Q7", "period=0000", "period=2026-00", "per=week", "weighting=magic", "flagged=maybe", "channel=fax",
                  "instrument=none@1", "level=village", "field=nope", "unit=nope"):
        response = client.get(f"/analyst/?{query}")
        assert response.status_code == 400, query
    assert client.get("/analyst/ranking?index=XX").status_code == 400
    assert client.get("/analyst/ranking?target=0.5").status_code == 400
    assert client.get("/analyst/comments?page=abc").status_code == 400
    assert client.get("/analyst/elements/ZZ").status_code == 404
    assert client.get("/analyst/breakdowns/planet").status_code == 404
    assert client.get("/analyst/results.pdf").status_code == 404
    assert client.get("/analyst/results.csv?by=gender").status_code == 400


def test_small_cells_are_shown_to_analysts_flagged(analyst):
    client, _ = analyst
    html = client.get("/analyst/breakdowns/center?per=month").get_data(as_text=True)
    assert "ít hơn 10 phiếu" in html


def test_xlsx_has_one_sheet_per_breakdown_each_equal_to_the_cli(analyst, tmp_path):
    client, _ = analyst
    quarter = latest_quarter(client)
    book_response = client.get(f"/analyst/results.xlsx?period={quarter}")
    assert book_response.status_code == 200 and book_response.mimetype == XLSX
    book = load_workbook(io.BytesIO(book_response.data))
    exported = client.get(f"/analyst/responses.csv?period={quarter}").data
    for column in (None, "center_code", "commune_code", "level", "field_code", "channel"):
        options = ["--period", "quarter", "--strata", "center_code,period"] + (["--by", column] if column else [])
        assert_same_results(sheet_frame(book, column), cli_results(tmp_path, exported, *options), [column] if column else [])
    overall = next(s for s in book.worksheets if s.cell(1, 3).value == "estimate")
    assert overall.freeze_panes == "A2" and overall.cell(2, 3).number_format == "0.00%"
    method = book.worksheets[-1]
    text = " ".join(str(c) for row in method.iter_rows(values_only=True) for c in row if c)
    assert "python -m analysis indices" in text and "--strata center_code,period" in text and "Korn" in text
    assert "sipas-platform" in text and quarter[:4] in text


def test_results_csv_and_json_equal_the_cli(analyst, tmp_path):
    client, _ = analyst
    quarter = latest_quarter(client)
    exported = client.get(f"/analyst/responses.csv?period={quarter}&flagged=exclude").data
    expected = cli_results(tmp_path, exported, "--period", "quarter", "--strata", "center_code,period", "--by", "field_code")
    csv_bytes = client.get(f"/analyst/results.csv?period={quarter}&flagged=exclude&by=field_code").data
    assert csv_bytes.startswith("\ufeff".encode())
    frame = pd.read_csv(io.BytesIO(csv_bytes), dtype={"field_code": str}, keep_default_na=False, encoding="utf-8-sig")
    frame = frame.replace("", np.nan).fillna({"field_code": "", "flag": ""})
    assert_same_results(frame, expected, ["field_code"])
    document = client.get(f"/analyst/results.json?period={quarter}&flagged=exclude&by=field_code").get_json()
    assert document["meta"]["strata"] == ["center_code", "period"] and document["meta"]["by"] == ["field_code"]
    assert_same_results(pd.DataFrame(document["results"]), expected, ["field_code"])


def test_responses_downloads_mask_comments_and_are_audited(analyst, demo):
    client, user = analyst
    quarter = latest_quarter(client)
    from app.models import Answer, InstrumentVersion

    response = demo.session.scalars(
        select(Response).join(InstrumentVersion).where(InstrumentVersion.instrument_id == "sipas-dvhcc-2023").order_by(Response.submitted_at.desc())
    ).first()

    demo.session.add(Answer(response_id=response.id, question_code="YK", text="Gọi tôi 0912 345 678 hoặc a.b@mail.vn, CCCD 001234567890"))
    demo.session.commit()
    csv_body = client.get("/analyst/responses.csv?per=year&period=" + quarter[:4]).get_data(as_text=True)
    assert "0912 345 678" not in csv_body and "a.b@mail.vn" not in csv_body and "001234567890" not in csv_body
    assert "[số điện thoại]" in csv_body
    xlsx = client.get(f"/analyst/responses.xlsx?period={quarter}")
    assert xlsx.status_code == 200 and xlsx.mimetype == XLSX
    sheet = load_workbook(io.BytesIO(xlsx.data)).worksheets[0]
    assert sheet.cell(1, 1).value == "response_id" and sheet.freeze_panes == "A2"
    assert sheet.max_row > 1
    comments = client.get("/analyst/comments?per=year&period=" + quarter[:4]).get_data(as_text=True)
    assert "0912 345 678" not in comments and "[số điện thoại]" in comments
    actions = demo.session.execute(select(AuditEvent.action, AuditEvent.target).where(AuditEvent.user_id == user.id)).all()
    assert ("download", "responses") in actions


def test_report_pdf_has_every_section_in_vietnamese(analyst, tmp_path):
    if not shutil.which("pdftotext"):
        pytest.fail("pdftotext is missing: apt-get install poppler-utils")
    client, user = analyst
    response = client.get("/analyst/report.pdf?per=year")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    path = tmp_path / "report.pdf"
    path.write_bytes(response.data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    for heading in (
        "BÁO CÁO KẾT QUẢ ĐO LƯỜNG SỰ HÀI LÒNG",
        "1. Tổng quan",
        "2. Các yếu tố",
        "Tiếp cận dịch vụ",
        "Thủ tục hành chính",
        "Công chức trực tiếp giải quyết công việc",
        "Kết quả giải quyết",
        "Tiếp nhận, xử lý phản ánh, kiến nghị",
        "3. Xếp hạng",
        "4. Xu hướng",
        "5. Nhận định",
        "6. Ghi chú phương pháp",
        "tự chọn",
    ):
        assert heading in text, heading
    assert re.search(r"\d{1,3},\d{2}%", text)


def test_review_decisions_are_stored_audited_and_change_the_indices(analyst, demo, app):
    client, user = analyst
    quarter = latest_quarter(client)
    from app.models import InstrumentVersion

    ids = demo.session.scalars(
        select(Response.id).join(InstrumentVersion).where(InstrumentVersion.instrument_id == "sipas-dvhcc-2023", ~Response.flags.any())
        .order_by(Response.submitted_at.desc()).limit(2)
    ).all()
    for response_id in ids:
        demo.session.add(ResponseFlag(response_id=response_id, code="burst", reason="Nhiều phiếu 5 điểm liên tiếp"))
    demo.session.add(Answer_comment(ids[0]))
    demo.session.commit()
    uids = [demo.session.get(Response, i).uid for i in ids]
    page = client.get(f"/analyst/review?period={quarter}").get_data(as_text=True)
    assert "Nhiều phiếu 5 điểm liên tiếp" in page and uids[0] in page
    assert "0987 654 321" in page, "the analyst's own review shows the comment as typed"
    without_before = client.get(f"/analyst/results.json?period={quarter}&flagged=exclude").get_json()
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        assert client.post(f"/analyst/review/{uids[0]}?period={quarter}", data={"decision": "include", "note": "đã kiểm tra"}).status_code == 303
        assert client.post(f"/analyst/review/{uids[1]}", data={"decision": "maybe"}).status_code == 400
        assert client.post("/analyst/review/not-a-response", data={"decision": "exclude"}).status_code == 404
    finally:
        app.config["WTF_CSRF_ENABLED"] = True
    demo.session.expire_all()
    review = demo.session.get(ResponseReview, ids[0])
    assert review.decision == "include" and review.note == "đã kiểm tra" and review.reviewer_id == user.id
    assert demo.session.scalars(select(AuditEvent).filter_by(action="review", target=uids[0])).one()
    without_after = client.get(f"/analyst/results.json?period={quarter}&flagged=exclude").get_json()
    n = lambda doc: next(r["n"] for r in doc["results"] if r["index"] == "SIPAS")  # noqa: E731
    assert n(without_after) == n(without_before) + 1


def Answer_comment(response_id: int):
    from app.models import Answer

    return Answer(response_id=response_id, question_code="YK", text="Liên hệ 0987 654 321")


def test_weighting_upload_validation_and_weighted_overview(analyst, demo, app, tmp_path):
    client, _ = analyst
    quarter = latest_quarter(client)
    exported = client.get(f"/analyst/responses.csv?period={quarter}").data
    (tmp_path / "r.csv").write_bytes(exported)
    data = read_responses(tmp_path / "r.csv")
    cells = data.groupby(["center_code", "field_code"]).size().reset_index(name="n")
    cells["population"] = cells["n"] * 11 + 5
    good = cells.drop(columns="n").to_csv(index=False).encode()
    missing = cells.iloc[1:].drop(columns="n").to_csv(index=False, sep=";").encode()
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        bad = client.post("/analyst/weighting", data={"period": quarter, "kind": "poststrat", "file": (io.BytesIO(missing), "thieu.csv")})
        assert bad.status_code == 422
        body = bad.get_data(as_text=True)
        first = cells.iloc[0]
        assert f"center_code={first['center_code']}, field_code={first['field_code']}" in body
        garbage = client.post("/analyst/weighting", data={"period": quarter, "kind": "poststrat", "file": (io.BytesIO(b"\xff\xfe"), "x.csv")})
        assert garbage.status_code == 422
        wrong_period = client.post("/analyst/weighting", data={"period": "2026-Q5", "kind": "poststrat", "file": (io.BytesIO(good), "t.csv")})
        assert wrong_period.status_code == 422
        saved = client.post("/analyst/weighting", data={"period": quarter, "kind": "poststrat", "file": (io.BytesIO(good), "tong-so.csv")})
        assert saved.status_code == 200 and "tong-so.csv" in saved.get_data(as_text=True)
    finally:
        app.config["WTF_CSRF_ENABLED"] = True
    page = client.get(f"/analyst/?period={quarter}&weighting=poststrat").get_data(as_text=True)
    assert "Có trọng số" in page and "Không trọng số" in page
    document = client.get(f"/analyst/results.json?period={quarter}&weighting=poststrat").get_json()
    assert document["meta"]["weighting"] == "poststrat"
    totals = Totals.from_frame(cells.drop(columns="n").assign(period=quarter).astype(str))
    expected = compute_indices(
        add_period(data, "quarter"), load_instrument(FULL).index_definitions,
        strata=["center_code", "period"], weighting=PostStratification(totals),
    )
    assert_same_results(pd.DataFrame(document["results"]), expected, [])
    xlsx = load_workbook(io.BytesIO(client.get(f"/analyst/results.xlsx?period={quarter}&weighting=poststrat").data))
    assert any("population" in [c.value for c in s[1]] for s in xlsx.worksheets)
    unweighted_page = client.get(f"/analyst/?period={quarter}&weighting=rake").get_data(as_text=True)
    assert "Chưa tải lên tổng số" in unweighted_page or "chưa" in unweighted_page.lower()


def test_random_filters_never_give_a_server_error(app, runner, db, make_user, sign_in):
    import hypothesis
    from hypothesis import HealthCheck, strategies as st

    assert runner.invoke(args=["sipas", "seed-demo", "--responses", "60"]).exit_code == 0
    client = sign_in(app.test_client(), make_user("analyst", email="ngau-nhien@example.vn"))
    values = {
        "per": st.sampled_from(["month", "quarter", "year", "week", ""]),
        "period": st.one_of(st.sampled_from(["2026", "2026-Q1", "2025-12", "1900-01", "2099-Q4"]), st.text(max_size=8)),
        "center": st.sampled_from(["", "qn-ha-long", "qn-co-to", "x"]),
        "unit": st.sampled_from(["", "22", "193", "25135", "zz"]),
        "level": st.sampled_from(["", "province", "district", "commune", "x"]),
        "field": st.sampled_from(["", "dat-dai", "ho-tich", "x"]),
        "channel": st.sampled_from(["", "direct", "online", "postal", "x"]),
        "instrument": st.sampled_from(["", FULL, "sipas-kiosk-2023@1", "x@1"]),
        "weighting": st.sampled_from(["none", "poststrat", "rake", "x"]),
        "flagged": st.sampled_from(["include", "exclude", "x"]),
    }
    pages = st.sampled_from(["/analyst/", "/analyst/trend", "/analyst/ranking", "/analyst/breakdowns/field", "/analyst/perceptions", "/analyst/results.json", "/analyst/report.pdf", "/analyst/elements/PA"])

    @hypothesis.given(page=pages, query=st.fixed_dictionaries({}, optional=values))
    @hypothesis.settings(max_examples=40, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    def check(page, query):
        response = client.get(page, query_string=query)
        assert response.status_code in (200, 400), (page, query, response.status_code)

    check()


def test_ranking_and_key_drivers_come_from_analysis(analyst, app, runner):
    from analysis import shrink
    from app.services.datasets import IndexRequest, Selection, index_table
    from app.services.filters import period_bounds
    from app.timeutil import today_in_vietnam

    client, _ = analyst
    # The demo's responses span the last 365 days; the calendar year of the middle day holds at
    # least half of them, whatever the date, and 1,200 are enough for the 33 coefficients of the
    # key-driver model to be estimable (no separation).
    assert runner.invoke(args=["sipas", "seed-demo", "--responses", "1200"]).exit_code == 0
    year = str((today_in_vietnam() - timedelta(days=182)).year)
    since, until = period_bounds(year)
    with app.app_context():
        from app.extensions import db as app_db

        table = index_table(
            app_db.session, Selection(FULL, since=since, until=until, period="year"),
            IndexRequest(by=("center_code",), strata=("center_code", "period")),
        )
    centres = table[(table["index"] == "SIPAS") & (table["center_code"] != "")]
    ranked = shrink(centres[["center_code", "estimate", "n_eff"]]).table
    page = client.get(f"/analyst/ranking?period={year}").get_data(as_text=True)
    first = ranked.iloc[0]
    assert f"{first['shrunk'] * 100:.2f}%".replace(".", ",") in page
    assert "<svg" in page and "Biểu đồ phễu" in page
    drivers = client.get(f"/analyst/drivers?period={year}").get_data(as_text=True)
    assert "Thứ tự ưu tiên" in drivers and "TC1." in drivers
    assert any(label in drivers for label in ("Tập trung cải thiện", "Duy trì", "Ưu tiên thấp", "Có thể đang đầu tư quá mức"))


def test_raking_margins_validate_their_sums_and_weight_like_the_cli(analyst, app, tmp_path):
    from analysis import Raking

    client, _ = analyst
    quarter = latest_quarter(client)
    (tmp_path / "r.csv").write_bytes(client.get(f"/analyst/responses.csv?period={quarter}").data)
    data = read_responses(tmp_path / "r.csv")
    by_centre = data.groupby("center_code").size().reset_index(name="population")
    by_centre["population"] = by_centre["population"] * 20
    total = int(by_centre["population"].sum())
    by_field = data.groupby("field_code").size().reset_index(name="n")
    shares = by_field["n"] / by_field["n"].sum()
    by_field["population"] = (shares * total).round().astype(int)
    by_field.loc[by_field.index[-1], "population"] += total - int(by_field["population"].sum())
    wrong = by_field.assign(population=by_field["population"] + 7)
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        upload = lambda frame, name: client.post(  # noqa: E731
            "/analyst/weighting", data={"period": quarter, "kind": "margin", "file": (io.BytesIO(frame.to_csv(index=False).encode()), name)}
        )
        assert upload(by_centre, "trung-tam.csv").status_code == 200
        refused = upload(wrong.drop(columns="n"), "linh-vuc-sai.csv")
        assert refused.status_code == 422 and "không cộng lại ra cùng một tổng" in refused.get_data(as_text=True)
        assert upload(by_field.drop(columns="n"), "linh-vuc.csv").status_code == 200
    finally:
        app.config["WTF_CSRF_ENABLED"] = True
    document = client.get(f"/analyst/results.json?period={quarter}&weighting=rake").get_json()
    assert document["meta"]["weighting"] == "rake"
    margins = (
        Totals.from_frame(by_centre.assign(period=quarter).astype(str)),
        Totals.from_frame(by_field.drop(columns="n").assign(period=quarter).astype(str)),
    )
    expected = compute_indices(
        add_period(data, "quarter"), load_instrument(FULL).index_definitions,
        strata=["center_code", "period"], weighting=Raking(margins),
    )
    assert_same_results(pd.DataFrame(document["results"]), expected, [])
    # One centre that answered this quarter (which ones did depends on the day the demo was made).
    centre = by_centre.sort_values("population").iloc[-1]["center_code"]
    filtered = client.get(f"/analyst/?period={quarter}&weighting=rake&center={centre}").get_data(as_text=True)
    assert "Cân chỉnh theo biên cần có phiếu ở mọi ô" in filtered
