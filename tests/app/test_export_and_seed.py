"""`flask sipas seed-demo` and `flask sipas export-responses`."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import datetime, timezone

from sqlalchemy import func, select

from app.models import Response, ServiceCenter, User
from app.services.export import iter_export_rows
from surveys import load_instrument
from tests.app.conftest import complete_answers


def read_export(path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "Excel needs the UTF-8 BOM"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def test_seed_demo_creates_the_province_and_is_idempotent(runner, db, monkeypatch):
    result = runner.invoke(args=["sipas", "seed-demo", "--responses", "120"])
    assert result.exit_code == 0, result.output
    assert "/s/qn-ha-long" in result.output and "/auth/login" in result.output
    for email in ("admin@demo.local", "analyst@demo.local", "staff@demo.local"):
        assert f"Account {email} password: " in result.output
    centers = db.session.scalars(select(ServiceCenter)).all()
    assert len([c for c in centers if c.level == "commune"]) >= 10
    assert any(c.level == "province" for c in centers)
    assert all("Trung tâm Phục vụ hành chính công" in c.name_vi for c in centers)
    staff = db.session.scalars(select(User).filter_by(role="staff")).one()
    assert [c.code for c in staff.centers] == ["qn-ha-long"]
    assert db.session.scalar(select(func.count()).select_from(Response)) == 120

    again = runner.invoke(args=["sipas", "seed-demo", "--responses", "120"])
    assert again.exit_code == 0 and "(0 added)" in again.output
    assert db.session.scalar(select(func.count()).select_from(Response)) == 120
    assert db.session.scalar(select(func.count()).select_from(ServiceCenter)) == len(centers)
    more = runner.invoke(args=["sipas", "seed-demo", "--responses", "150"])
    assert "(30 added)" in more.output
    skipped = runner.invoke(args=["sipas", "seed-demo", "--if-empty"])
    assert "no demo data added" in skipped.output and "/s/" in skipped.output


def test_seed_demo_uses_the_configured_password(app, runner, db):
    app.config["DEMO_PASSWORD"] = "mat-khau-demo-2026"
    try:
        result = runner.invoke(args=["sipas", "seed-demo", "--responses", "0"])
    finally:
        app.config["DEMO_PASSWORD"] = None
    assert result.exit_code == 0
    analyst = db.session.scalars(select(User).filter_by(email="analyst@demo.local")).one()
    assert analyst.check_password("mat-khau-demo-2026")


def test_demo_responses_look_like_real_ones(runner, db, tmp_path):
    runner.invoke(args=["sipas", "seed-demo", "--responses", "400"])
    out = tmp_path / "responses.csv"
    assert runner.invoke(args=["sipas", "export-responses", "--out", str(out)]).exit_code == 0
    rows = read_export(out)
    assert len(rows) == 400 and all(r["source"] == "demo" for r in rows)
    full = [r for r in rows if r["instrument"] == "sipas-dvhcc-2023@1"]
    kiosk = [r for r in rows if r["instrument"] == "sipas-kiosk-2023@1"]
    assert full and kiosk
    satisfied = sum(r["HL"] in ("4", "5") for r in full) / len(full)
    assert 0.6 < satisfied < 0.99
    assert sum(r["PA"] == "9" for r in full) > len(full) / 3  # most gave no feedback
    assert len({r["center_code"] for r in rows}) >= 10
    assert all(r["HL"] in "12345" and r["HL"] for r in rows)
    times = [datetime.fromisoformat(r["submitted_at"]) for r in rows]
    assert all(t.utcoffset().total_seconds() == 7 * 3600 for t in times)
    assert all(7 <= t.hour < 18 and t.weekday() < 6 for t in times)


def test_export_columns_and_values(survey_center, post_survey, runner, db, tmp_path):
    answers = complete_answers()
    answers["YK"] = "Gọi tôi 0912 345 678 hoặc email an.nguyen@example.vn, CCCD 001203004567."
    assert post_survey("qn-test", answers).status_code == 303
    out = tmp_path / "export.csv"
    result = runner.invoke(args=["sipas", "export-responses", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = read_export(out)
    assert len(rows) == 1
    row = rows[0]
    header = list(row)
    assert header[:4] == ["response_id", "submitted_at", "instrument", "center_code"]
    assert header[-1] == "flags"
    for code in load_instrument("sipas-dvhcc-2023@1").question_codes:
        assert code in header
    assert row["instrument"] == "sipas-dvhcc-2023@1"
    assert row["center_code"] == "qn-test" and row["province_code"] == "22" and row["level"] == "commune"
    assert row["commune_code"] == "c-qn-test" and row["district_code"] == ""
    assert row["field_code"] == "ho-tich" and row["channel"] == "direct"
    assert row["HL"] == "4" and row["PA"] == "9" and row["UT"] == "time;online"
    assert row["gender"] == "female" and row["education"] == ""
    assert row["flags"] == "too_fast"
    assert "0912" not in row["YK"] and "example.vn" not in row["YK"] and "001203004567" not in row["YK"]
    assert "[số điện thoại]" in row["YK"] and "[email]" in row["YK"] and "[số định danh]" in row["YK"]
    assert datetime.fromisoformat(row["submitted_at"]).utcoffset().total_seconds() == 7 * 3600


def test_export_since_until_use_vietnam_days(survey_center, post_survey, runner, db, tmp_path):
    assert post_survey("qn-test", complete_answers()).status_code == 303
    response = db.session.scalars(select(Response)).one()
    # 23:30 on 31 March in Hà Nội is 16:30 UTC the same day.
    response.submitted_at = datetime(2026, 3, 31, 16, 30, tzinfo=timezone.utc)
    response.started_at = None
    db.session.commit()
    for since, until, expected in [("2026-03-31", "2026-03-31", 1), ("2026-04-01", None, 0), (None, "2026-03-30", 0)]:
        out = tmp_path / f"{since}-{until}.csv"
        args = ["sipas", "export-responses", "--out", str(out)]
        args += ["--since", since] if since else []
        args += ["--until", until] if until else []
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
        assert len(read_export(out)) == expected, (since, until)


def test_export_refuses_bad_dates_without_writing(runner, db, tmp_path):
    out = tmp_path / "x.csv"
    assert runner.invoke(args=["sipas", "export-responses", "--out", str(out), "--since", "31/03/2026"]).exit_code == 2
    result = runner.invoke(args=["sipas", "export-responses", "--out", str(out), "--since", "2026-04-02", "--until", "2026-04-01"])
    assert result.exit_code == 2
    assert not out.exists()


def test_export_is_the_same_whatever_the_chunk_size(app, runner, db):
    runner.invoke(args=["sipas", "seed-demo", "--responses", "37"])
    with app.app_context():
        from app.extensions import db as app_db

        small = list(iter_export_rows(app_db.session, chunk_size=5))
        large = list(iter_export_rows(app_db.session, chunk_size=1000))
    assert small == large and len(small) == 38


def test_export_memory_does_not_grow_with_rows(app, runner, db):
    def peak_for(rows: int) -> int:
        runner.invoke(args=["sipas", "seed-demo", "--responses", str(rows)])
        with app.app_context():
            from app.extensions import db as app_db

            tracemalloc.start()
            count = sum(1 for _ in iter_export_rows(app_db.session, chunk_size=100))
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            app_db.session.remove()
        assert count == rows + 1
        return peak

    small, large = peak_for(300), peak_for(1500)
    assert large < small * 1.5, (small, large)
