"""Administration pages, the centre import (page and command), batch posters, the API."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest
from sqlalchemy import select

from app.models import AdministrativeUnit, Counter, DossierLink, Field, ServiceCenter, User
from tests.app.conftest import hidden_inputs


@pytest.fixture()
def admin_client(app, make_user, sign_in):
    return sign_in(app.test_client(), make_user("admin"))


def form_post(client, path, data, **kwargs):
    tokens = hidden_inputs(client.get(path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": tokens["csrf_token"], **data}, **kwargs)


def test_admin_creates_units_of_both_structures(admin_client, db):
    assert form_post(admin_client, "/admin/units/new", {"code": "22", "name": "Tỉnh Quảng Ninh", "level": "province", "parent_id": "0", "valid_from": "1963-10-30"}).status_code == 303
    province = db.session.scalars(select(AdministrativeUnit).filter_by(code="22")).one()
    # The three-level structure before 1 July 2025 ...
    district = {"code": "193", "name": "Thành phố Hạ Long", "level": "district", "parent_id": str(province.id), "valid_from": "1994-12-27", "valid_to": "2025-06-30"}
    assert form_post(admin_client, "/admin/units/new", district).status_code == 303
    # ... and the two-level one after it.
    commune = {"code": "25135", "name": "Phường Hạ Long", "level": "commune", "parent_id": str(province.id), "valid_from": "2025-07-01"}
    assert form_post(admin_client, "/admin/units/new", commune).status_code == 303
    units = {u.code: u for u in db.session.scalars(select(AdministrativeUnit))}
    assert units["193"].valid_to.isoformat() == "2025-06-30" and units["25135"].parent_id == province.id
    listing = admin_client.get("/admin/units").get_data(as_text=True)
    assert "Thành phố Hạ Long" in listing and "30/06/2025" in listing


def test_unit_form_refuses_inconsistent_input(admin_client, db):
    bad = {"code": "22", "name": "Tỉnh", "level": "commune", "parent_id": "0", "valid_from": "2025-07-01", "valid_to": "2020-01-01"}
    response = form_post(admin_client, "/admin/units/new", bad)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Không được trước ngày bắt đầu." in html and "cấp huyện và cấp xã phải thuộc" in html
    assert db.session.scalars(select(AdministrativeUnit)).all() == []


def test_admin_creates_edits_and_deactivates_a_centre_and_its_counter(admin_client, survey_center, client, db):
    data = {
        "code": "qn-moi", "name_vi": "Trung tâm Phục vụ hành chính công phường Mới", "name_en": "New Ward Centre",
        "unit_id": str(survey_center.unit_id), "level": "commune", "instrument_key": "", "valid_from": "2025-07-01", "active": "y",
    }
    assert form_post(admin_client, "/admin/centers/new", data).status_code == 303
    center = db.session.scalars(select(ServiceCenter).filter_by(code="qn-moi")).one()
    assert client.get("/s/qn-moi").status_code == 200
    duplicate = form_post(admin_client, "/admin/centers/new", data)
    assert duplicate.status_code == 422 and "Đã có trung tâm dùng mã này." in duplicate.get_data(as_text=True)

    assert form_post(admin_client, f"/admin/centers/{center.id}/counters/new", {"code": "1", "name": "Quầy số 1", "active": "y"}).status_code == 303
    assert db.session.scalars(select(Counter).filter_by(center_id=center.id)).one().name == "Quầy số 1"

    edited = {**data, "name_vi": "Trung tâm Phục vụ hành chính công phường Mới (đổi tên)", "instrument_key": "sipas-kiosk-2023@1"}
    edited.pop("active")  # unchecked box: deactivate
    assert form_post(admin_client, f"/admin/centers/{center.id}", edited).status_code == 303
    db.session.refresh(center)
    assert center.active is False and center.instrument_key == "sipas-kiosk-2023@1" and "(đổi tên)" in center.name_vi
    assert client.get("/s/qn-moi").status_code == 404


def test_admin_manages_fields_and_users(admin_client, survey_center, db):
    assert form_post(admin_client, "/admin/fields/new", {"code": "tu-phap", "name_vi": "Tư pháp", "name_en": "Justice", "active": "y"}).status_code == 303
    assert db.session.scalars(select(Field).filter_by(code="tu-phap")).one().name_vi == "Tư pháp"
    user = {"email": "Can.Bo@Example.VN", "name": "Cán bộ", "role": "staff", "center_ids": [str(survey_center.id)], "password": "mat-khau-rat-dai-2026", "active": "y"}
    assert form_post(admin_client, "/admin/users/new", user).status_code == 303
    created = db.session.scalars(select(User).filter_by(email="can.bo@example.vn")).one()
    assert [c.code for c in created.centers] == ["qn-test"] and created.check_password("mat-khau-rat-dai-2026")
    short = form_post(admin_client, "/admin/users/new", {**user, "email": "x@example.vn", "password": "ngan"})
    assert short.status_code == 422 and "Ít nhất 12 ký tự." in short.get_data(as_text=True)
    no_password = form_post(admin_client, "/admin/users/new", {**user, "email": "y@example.vn", "password": ""})
    assert no_password.status_code == 422
    # An analyst keeps no centres even if some are ticked.
    assert form_post(admin_client, f"/admin/users/{created.id}", {**user, "role": "analyst", "password": ""}).status_code == 303
    db.session.refresh(created)
    assert created.role == "analyst" and created.centers == [] and created.check_password("mat-khau-rat-dai-2026")


def test_admin_cannot_lock_themselves_out(app, make_user, sign_in, db):
    admin = make_user("admin")
    client = sign_in(app.test_client(), admin)
    response = form_post(client, f"/admin/users/{admin.id}", {"email": admin.email, "name": "A", "role": "staff", "password": ""})
    assert response.status_code == 422
    db.session.refresh(admin)
    assert admin.role == "admin"


CSV_GOOD = (
    "code,name_vi,name_en,unit_code,level,address,active,valid_from,instrument\n"
    "qn-a,Trung tâm Phục vụ hành chính công phường A,Ward A Centre,c-qn-test,commune,Số 1 đường A,1,2025-07-01,\n"
    "qn-test,Trung tâm Phục vụ hành chính công phường Thử Nghiệm (mới),,c-qn-test,commune,,1,01/07/2025,sipas-kiosk-2023@1\n"
)
CSV_BAD_ROWS = (
    "code,name_vi,unit_code,level,valid_from\n"
    "QN B!,Tên,c-qn-test,commune,2025-07-01\n"
    "qn-c,,c-qn-test,commune,2025-07-01\n"
    "qn-d,Tên D,khong-co,commune,2025-07-01\n"
    "qn-e,Tên E,c-qn-test,province,2025-07-01\n"
    "qn-f,Tên F,c-qn-test,commune,31/02/2025\n"
    "qn-g,Tên G,c-qn-test,commune,2020-01-01\n"
)


def test_import_page_reports_row_by_row(admin_client, survey_center, db):
    mixed = CSV_GOOD + "qn-a,Trùng mã,,c-qn-test,commune,,1,2025-07-01,\nqn-h,Tên H,,c-qn-test,hamlet,,1,2025-07-01,\n"
    response = form_post(admin_client, "/admin/centers/import", {"file": (io.BytesIO(mixed.encode("utf-8-sig")), "centres.csv")}, content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Tạo mới: 1, cập nhật: 1, không đổi: 0, từ chối: 2." in html
    assert "mã xuất hiện hai lần trong tệp" in html and "cột level: phải là province, district hoặc commune" in html
    codes = {c.code: c for c in db.session.scalars(select(ServiceCenter))}
    assert set(codes) == {"qn-test", "qn-a"}
    assert codes["qn-a"].name_en == "Ward A Centre" and codes["qn-a"].address == "Số 1 đường A"
    db.session.refresh(codes["qn-test"])
    assert codes["qn-test"].instrument_key == "sipas-kiosk-2023@1" and codes["qn-test"].name_en == codes["qn-test"].name_vi


def test_import_page_refuses_a_broken_file_whole(admin_client, survey_center, db):
    for body, message in [
        ("code;name\nx;y\n".encode("utf-8"), "Thiếu cột: name_vi, unit_code, level."),
        (CSV_GOOD.encode("utf-16"), "Tệp không phải văn bản UTF-8"),
        (b"code,name_vi,unit_code,level\n\x00\x01", "Tệp không phải tệp văn bản CSV."),
    ]:
        response = form_post(admin_client, "/admin/centers/import", {"file": (io.BytesIO(body), "c.csv")}, content_type="multipart/form-data")
        assert response.status_code == 422 and message in response.get_data(as_text=True)
    missing = form_post(admin_client, "/admin/centers/import", {}, content_type="multipart/form-data")
    assert missing.status_code == 422
    assert [c.code for c in db.session.scalars(select(ServiceCenter))] == ["qn-test"]


def test_import_command_good_bad_and_mixed(runner, survey_center, tmp_path, db):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(CSV_GOOD, encoding="utf-8")
    bad.write_text(CSV_BAD_ROWS, encoding="utf-8")
    result = runner.invoke(args=["sipas", "import-centers", str(good)])
    assert result.exit_code == 0, result.output
    assert "row 2: qn-a: created" in result.output and "row 3: qn-test: updated" in result.output
    again = runner.invoke(args=["sipas", "import-centers", str(good)])
    assert "row 2: qn-a: unchanged" in again.output
    semicolons = tmp_path / "excel.csv"
    semicolons.write_text(CSV_GOOD.replace(",", ";").replace("Số 1 đường A", "Số 2 đường A"), encoding="utf-8-sig")
    assert "row 2: qn-a: updated" in runner.invoke(args=["sipas", "import-centers", str(semicolons)]).output
    result = runner.invoke(args=["sipas", "import-centers", str(bad)])
    lines = result.output.splitlines()
    assert "rejected 6" in lines[-1]
    expected = {
        2: "cột code", 3: "cột name_vi", 4: "không có đơn vị khong-co", 5: "thuộc cấp commune, không phải province",
        6: "31/02/2025 không phải là ngày", 7: "không có đơn vị c-qn-test vào ngày đó",
    }
    for row, reason in expected.items():
        assert any(line.startswith(f"row {row}:") and "rejected" in line and reason in line for line in lines), (row, lines)
    assert sorted(c.code for c in db.session.scalars(select(ServiceCenter))) == ["qn-a", "qn-test"]
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\xff\xfe\x00")
    result = runner.invoke(args=["sipas", "import-centers", str(broken)])
    assert result.exit_code == 1 and "UTF-8" in result.output


def pdf_text(pdf: bytes, tmp_path) -> str:
    if not shutil.which("pdftotext"):
        pytest.skip("poppler-utils is needed")
    path = tmp_path / "x.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(text.split())  # lines wrap differently on each paper size


def test_batch_posters_for_a_unit(admin_client, survey_center, make_center, tmp_path, db):
    make_center(code="qn-second", name_vi="Trung tâm Phục vụ hành chính công phường Thứ Hai")
    province = db.session.scalars(select(AdministrativeUnit).filter_by(code="22")).one()
    response = admin_client.get(f"/admin/units/{province.id}/posters.pdf?size=a5")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = pdf_text(response.data, tmp_path)
    assert text.count("Quét mã QR để đánh giá mức độ hài lòng") == 2
    assert "phường Thử Nghiệm" in text and "phường Thứ Hai" in text and "Tỉnh Quảng Ninh" in text


def test_poster_command(runner, survey_center, tmp_path, db):
    counter = Counter(center_id=survey_center.id, code="2", name="Quầy số 2")
    db.session.add(counter)
    db.session.commit()
    out = tmp_path / "poster.pdf"
    result = runner.invoke(args=["sipas", "poster", "qn-test", "--counter", "2", "--size", "a6", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = pdf_text(out.read_bytes(), tmp_path)
    assert "Quầy số 2" in text and "Trung tâm Phục vụ hành chính công" in text
    assert runner.invoke(args=["sipas", "poster", "nope", "--out", str(out)]).exit_code == 2
    assert runner.invoke(args=["sipas", "poster", "qn-test", "--counter", "9", "--out", str(tmp_path / "n.pdf")]).exit_code == 2
    assert not (tmp_path / "n.pdf").exists()


# API -------------------------------------------------------------------------------------------


@pytest.fixture()
def api_token(runner, make_user, survey_center):
    make_user("staff", email="one-stop@example.vn", centers=[survey_center])
    result = runner.invoke(args=["sipas", "api-token", "--email", "one-stop@example.vn", "--name", "một cửa"])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def test_api_mints_dossier_links(client, api_token, make_center, db):
    make_center(code="qn-other")
    headers = {"Authorization": f"Bearer {api_token}"}
    body = {"dossier_code": "H45-0001", "center_code": "qn-test", "field_code": "ho-tich"}
    response = client.post("/api/v1/dossier-links", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert "/r/" in data["url"] and data["field_code"] == "ho-tich"
    assert client.get(data["url"].split("localhost", 1)[1]).status_code == 200
    assert client.post("/api/v1/dossier-links", json={**body, "center_code": "qn-other"}, headers=headers).status_code == 403
    assert client.post("/api/v1/dossier-links", json={**body, "center_code": "nope"}, headers=headers).status_code == 404
    assert client.post("/api/v1/dossier-links", json={**body, "field_code": "nope"}, headers=headers).status_code == 422
    assert client.post("/api/v1/dossier-links", json={**body, "extra": 1}, headers=headers).status_code == 422
    assert client.post("/api/v1/dossier-links", json=["x"], headers=headers).status_code == 400
    assert client.post("/api/v1/dossier-links", data=b"\xff", content_type="application/json", headers=headers).status_code == 400
    for bad in ({}, {"Authorization": "Bearer sipas_wrong"}, {"Authorization": "Basic abc"}):
        refused = client.post("/api/v1/dossier-links", json=body, headers=bad)
        assert refused.status_code == 401 and refused.get_json()["error"]["status"] == 401
    assert len(db.session.scalars(select(DossierLink)).all()) == 1


def test_openapi_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.") and "/dossier-links" in document["paths"]
