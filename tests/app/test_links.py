"""Signed poster links and one-time dossier links."""

from __future__ import annotations

import shutil
import subprocess
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import func, select

from app.models import Counter, DossierLink, Poster, Response
from app.services.links import POSTER_SALT, LinkError, consume_dossier_link, find_dossier_link, mint_dossier_link
from app.timeutil import now_utc
from tests.app.conftest import complete_answers, hidden_inputs


@pytest.fixture()
def counter(survey_center, db):
    counter = Counter(center_id=survey_center.id, code="3", name="Quầy số 3")
    db.session.add(counter)
    db.session.commit()
    return counter


@pytest.fixture()
def staff_client(app, make_user, sign_in, survey_center):
    return sign_in(app.test_client(), make_user("staff", centers=[survey_center]))


def decode_pdf_qr(pdf: bytes, tmp_path) -> list[str]:
    if not shutil.which("pdftoppm") or not shutil.which("zbarimg"):
        pytest.skip("poppler-utils and zbar-tools are needed")
    (tmp_path / "p.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", str(tmp_path / "p.pdf"), str(tmp_path / "page")], check=True)
    urls = []
    for image in sorted(tmp_path.glob("page*.png")):
        out = subprocess.run(["zbarimg", "--raw", "-q", str(image)], capture_output=True, text=True)
        urls.extend(line for line in out.stdout.splitlines() if line)
    return urls


def survey_with_token(client, url: str):
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}")


def test_staff_poster_qr_decodes_to_the_survey_of_that_centre(app, staff_client, counter, client, tmp_path, db):
    app.config["PUBLIC_BASE_URL"] = "https://sipas.quangninh.example.vn"
    try:
        pdf = staff_client.get("/staff/centers/qn-test/poster.pdf?size=a4&counter=3")
    finally:
        app.config["PUBLIC_BASE_URL"] = None
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    [url] = decode_pdf_qr(pdf.data, tmp_path)
    assert url.startswith("https://sipas.quangninh.example.vn/s/qn-test?t=")
    page = survey_with_token(client, url)
    assert page.status_code == 200
    assert "Trung tâm Phục vụ hành chính công phường Thử Nghiệm" in page.get_data(as_text=True)


def test_response_records_the_counter_and_poster(staff_client, counter, client, db):
    qr = staff_client.get("/staff/centers/qn-test/qr.svg?counter=3")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml"
    poster = db.session.scalars(select(Poster)).one()
    token = URLSafeSerializer(["testing-secret"], salt=POSTER_SALT).dumps({"c": "qn-test", "p": poster.id, "k": "3"})
    html = client.get(f"/s/qn-test?t={token}").get_data(as_text=True)
    response = client.post(f"/s/qn-test?t={token}", data={**hidden_inputs(html), **complete_answers()})
    assert response.status_code == 303
    stored = db.session.scalars(select(Response)).one()
    assert stored.counter_id == counter.id and stored.poster_id == poster.id


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        URLSafeSerializer(["another-key"], salt=POSTER_SALT).dumps({"c": "qn-test", "p": 1}),
        URLSafeSerializer(["testing-secret"], salt="other-salt").dumps({"c": "qn-test", "p": 1}),
        URLSafeSerializer(["testing-secret"], salt=POSTER_SALT).dumps({"c": "qn-other", "p": 1}),
        URLSafeSerializer(["testing-secret"], salt=POSTER_SALT).dumps({"c": "qn-test", "p": 999999}),
        URLSafeSerializer(["testing-secret"], salt=POSTER_SALT).dumps(["qn-test", 1]),
        "x" * 1000,
    ],
)
def test_tampered_tokens_are_refused(survey_center, client, db, token):
    response = client.get(f"/s/qn-test?t={token}")
    assert response.status_code == 400
    assert "Mã QR này không hợp lệ" in response.get_data(as_text=True)
    posted = client.post(f"/s/qn-test?t={token}", data=complete_answers())
    assert posted.status_code in (400,)
    assert db.session.scalar(select(func.count()).select_from(Response)) == 0


def test_tampering_with_a_real_token_is_refused(staff_client, counter, client, db):
    staff_client.get("/staff/centers/qn-test/qr.png?counter=3")
    poster = db.session.scalars(select(Poster)).one()
    token = URLSafeSerializer(["testing-secret"], salt=POSTER_SALT).dumps({"c": "qn-test", "p": poster.id, "k": "3"})
    payload, signature = token.split(".")
    forged = payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + signature
    assert client.get(f"/s/qn-test?t={token}").status_code == 200
    assert client.get(f"/s/qn-test?t={forged}").status_code == 400


def test_reissue_with_revocation_kills_the_old_code_but_not_the_plain_link(app, staff_client, counter, client, db):
    staff_client.get("/staff/centers/qn-test/qr.png?counter=3")
    old = db.session.scalars(select(Poster)).one()
    old_token = URLSafeSerializer(["testing-secret"], salt=POSTER_SALT).dumps({"c": "qn-test", "p": old.id, "k": "3"})
    tokens = hidden_inputs(staff_client.get("/staff/centers/qn-test").get_data(as_text=True))
    response = staff_client.post("/staff/centers/qn-test/reissue", data={**tokens, "counter": "3", "revoke": "1"})
    assert response.status_code == 303
    revoked = client.get(f"/s/qn-test?t={old_token}")
    assert revoked.status_code == 410
    assert "Mã QR này không còn được sử dụng" in revoked.get_data(as_text=True)
    new = db.session.scalars(select(Poster).where(Poster.revoked_at.is_(None))).one()
    new_token = URLSafeSerializer(["testing-secret"], salt=POSTER_SALT).dumps({"c": "qn-test", "p": new.id, "k": "3"})
    assert client.get(f"/s/qn-test?t={new_token}").status_code == 200
    assert client.get("/s/qn-test").status_code == 200


def test_reissue_without_revocation_keeps_the_old_code(staff_client, counter, client, db):
    staff_client.get("/staff/centers/qn-test/qr.png?counter=3")
    old = db.session.scalars(select(Poster)).one()
    tokens = hidden_inputs(staff_client.get("/staff/centers/qn-test").get_data(as_text=True))
    staff_client.post("/staff/centers/qn-test/reissue", data={**tokens, "counter": "3"})
    token = URLSafeSerializer(["testing-secret"], salt=POSTER_SALT).dumps({"c": "qn-test", "p": old.id, "k": "3"})
    assert client.get(f"/s/qn-test?t={token}").status_code == 200
    assert db.session.scalar(select(func.count()).select_from(Poster)) == 2


def test_key_rotation_keeps_old_posters_working(app, staff_client, counter, client, db):
    staff_client.get("/staff/centers/qn-test/qr.png?counter=3")
    poster = db.session.scalars(select(Poster)).one()
    old_token = URLSafeSerializer(["testing-secret"], salt=POSTER_SALT).dumps({"c": "qn-test", "p": poster.id, "k": "3"})
    app.config["LINK_SIGNING_KEYS"] = ("testing-secret", "a-new-signing-key")
    try:
        assert client.get(f"/s/qn-test?t={old_token}").status_code == 200
        new_token = URLSafeSerializer(["a-new-signing-key"], salt=POSTER_SALT).dumps({"c": "qn-test", "p": poster.id, "k": "3"})
        assert client.get(f"/s/qn-test?t={new_token}").status_code == 200
        app.config["LINK_SIGNING_KEYS"] = ("a-new-signing-key",)
        assert client.get(f"/s/qn-test?t={old_token}").status_code == 400
    finally:
        app.config["LINK_SIGNING_KEYS"] = ()


# Dossier links ---------------------------------------------------------------------------------


def test_dossier_link_cli_prefills_and_accepts_one_response(runner, survey_center, client, db):
    result = runner.invoke(args=["sipas", "dossier-link", "000.00.23.H45-261127-0001", "--center", "qn-test", "--field", "dat-dai"])
    assert result.exit_code == 0, result.output
    url = result.output.strip().splitlines()[-1]
    path = urlsplit(url).path
    assert path.startswith("/r/")
    link = db.session.scalars(select(DossierLink)).one()
    assert "H45" not in link.dossier_hash and len(link.dossier_hash) == 64
    assert (link.expires_at - link.created_at) == timedelta(days=30)

    page = client.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Đất đai" in html and 'name="field_code"' not in html
    answers = {k: v for k, v in complete_answers().items() if k != "field_code"}
    assert client.post(path, data={**hidden_inputs(html), **answers}).status_code == 303
    stored = db.session.scalars(select(Response)).one()
    assert stored.field.code == "dat-dai" and stored.center.code == "qn-test"

    again = client.get(path)
    assert again.status_code == 409 and "đã được trả lời" in again.get_data(as_text=True)
    second = client.post(path, data={**hidden_inputs(html), **answers})
    assert second.status_code == 409
    assert db.session.scalar(select(func.count()).select_from(Response)) == 1
    refused = runner.invoke(args=["sipas", "dossier-link", "000.00.23.H45-261127-0001", "--center", "qn-test", "--field", "dat-dai"])
    assert refused.exit_code != 0 and "already has a response" in refused.output


def test_unknown_and_expired_dossier_links(app, survey_center, client, db):
    assert client.get("/r/does-not-exist").status_code == 404
    with app.app_context():
        from app.extensions import db as app_db
        from app.models import ServiceCenter

        center = app_db.session.get(ServiceCenter, survey_center.id)
        minted = mint_dossier_link(app_db.session, app.config, "HS-1", center, None, now_utc() - timedelta(days=31))
        app_db.session.commit()
    expired = client.get(f"/r/{minted.token}")
    assert expired.status_code == 410 and "đã hết hạn" in expired.get_data(as_text=True)


def test_configurable_expiry_and_reminting_replaces_unused_link(app, survey_center, db):
    app.config["DOSSIER_LINK_DAYS"] = 7
    try:
        with app.app_context():
            from app.extensions import db as app_db
            from app.models import ServiceCenter

            center = app_db.session.get(ServiceCenter, survey_center.id)
            first = mint_dossier_link(app_db.session, app.config, "HS-2", center, None, now_utc())
            second = mint_dossier_link(app_db.session, app.config, "HS-2", center, None, now_utc())
            app_db.session.commit()
            assert (second.link.expires_at - second.link.created_at) == timedelta(days=7)
            with pytest.raises(LinkError):
                find_dossier_link(app_db.session, app.config, first.token, now_utc())
            assert find_dossier_link(app_db.session, app.config, second.token, now_utc()).id == second.link.id
            for bad in ("", "a b", "x" * 101):
                with pytest.raises(LinkError):
                    mint_dossier_link(app_db.session, app.config, bad, center, None, now_utc())
    finally:
        app.config["DOSSIER_LINK_DAYS"] = 30


def test_two_concurrent_submissions_exactly_one_wins(app, survey_center, db, database_url):
    """Two transactions race for one link; the database lets exactly one of them use it."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from app.models import ServiceCenter
    from app.services.submissions import submit_response
    from analysis.integrity import Rules
    from surveys import load_instrument

    with app.app_context():
        from app.extensions import db as app_db

        center = app_db.session.get(ServiceCenter, survey_center.id)
        minted = mint_dossier_link(app_db.session, app.config, "HS-RACE", center, None, now_utc())
        app_db.session.commit()
    engine = create_engine(database_url, connect_args={"timeout": 30} if database_url.startswith("sqlite") else {})
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt():
        barrier.wait(timeout=10)
        with Session(engine) as session:
            try:
                link = find_dossier_link(session, app.config, minted.token, now_utc())
                center = session.get(ServiceCenter, survey_center.id)
                with app.app_context():
                    stored = submit_response(
                        session, center=center, instrument=load_instrument("sipas-kiosk-2023@1"),
                        answers={"HL": "5"}, fields_by_code={}, locale="vi", started_at=None,
                        submitted_at=now_utc(), rules=Rules(),
                    )
                consume_dossier_link(session, link, stored.id, now_utc())
                session.commit()
                outcomes.append("won")
            except LinkError:
                session.rollback()
                outcomes.append("lost")
            except Exception as error:  # SQLite's "database is locked" for the loser also loses
                session.rollback()
                outcomes.append(f"lost:{type(error).__name__}")

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    engine.dispose()
    assert sorted(o.split(":")[0] for o in outcomes) == ["lost", "won"], outcomes
    assert db.session.scalar(select(func.count()).select_from(Response)) == 1
    link = db.session.scalars(select(DossierLink)).one()
    assert link.used_at is not None and link.response_id is not None
