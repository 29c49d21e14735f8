"""Login: generic failures, lockout with back-off, session rotation, cookie flags, logout."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.models import User
from app.services.accounts import lock_duration
from tests.app.conftest import hidden_inputs
from tests.conftest import PASSWORD


def login(client, email, password, follow=False):
    page = client.get("/auth/login")
    tokens = hidden_inputs(page.get_data(as_text=True))
    return client.post("/auth/login", data={"csrf_token": tokens["csrf_token"], "email": email, "password": password}, follow_redirects=follow)


def test_login_page_is_vietnamese(client):
    page = client.get("/auth/login").get_data(as_text=True)
    assert "Đăng nhập" in page and "Mật khẩu" in page


def test_each_role_lands_on_its_home(app, make_user, survey_center):
    homes = {"admin": "/admin/", "staff": "/staff/", "analyst": "/analyst/"}
    for role, home in homes.items():
        make_user(role, centers=[survey_center] if role == "staff" else [])
        response = login(app.test_client(), f"{role}@example.vn", PASSWORD)
        assert response.status_code == 303 and response.headers["Location"].endswith(home), role


def test_failed_login_is_generic(client, make_user):
    make_user("admin")
    wrong_password = login(client, "admin@example.vn", "sai-mat-khau")
    unknown = login(client, "nobody@example.vn", "sai-mat-khau")
    assert wrong_password.status_code == unknown.status_code == 401
    message = "Đăng nhập không thành công. Vui lòng kiểm tra email và mật khẩu, hoặc thử lại sau ít phút."
    assert message in wrong_password.get_data(as_text=True) and message in unknown.get_data(as_text=True)


def test_email_is_case_insensitive(client, make_user):
    make_user("admin")
    assert login(client, "  Admin@Example.VN ", PASSWORD).status_code == 303


def test_lockout_backs_off_and_hides_itself(client, make_user, db):
    make_user("admin")
    for _ in range(5):
        assert login(client, "admin@example.vn", "sai").status_code == 401
    user = db.session.scalars(select(User)).one()
    db.session.refresh(user)
    assert user.failed_logins == 5 and user.locked_until is not None
    # Locked: even the right password fails, with the same message.
    locked = login(client, "admin@example.vn", PASSWORD)
    assert locked.status_code == 401
    assert lock_duration(4) == timedelta(0)
    assert [lock_duration(n) for n in (5, 6, 7)] == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    assert lock_duration(40) == timedelta(hours=1)
    user.locked_until = user.locked_until - timedelta(minutes=5)
    db.session.commit()
    assert login(client, "admin@example.vn", PASSWORD).status_code == 303
    db.session.refresh(user)
    assert user.failed_logins == 0 and user.locked_until is None


def test_inactive_account_cannot_sign_in(client, make_user):
    make_user("admin", active=False)
    assert login(client, "admin@example.vn", PASSWORD).status_code == 401


def test_login_rotates_the_session_and_sets_cookie_flags(client, make_user):
    make_user("admin")
    client.get("/s/anything?lang=en")  # puts something in the session before login
    response = login(client, "admin@example.vn", PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    with client.session_transaction() as session:
        assert "lang" not in session and session["_user_id"]


def test_next_parameter_only_goes_to_this_site(client, make_user):
    make_user("admin")
    page = client.get("/auth/login?next=https://evil.example/x")
    tokens = hidden_inputs(page.get_data(as_text=True))
    response = client.post("/auth/login?next=https://evil.example/x", data={**tokens, "email": "admin@example.vn", "password": PASSWORD})
    assert response.headers["Location"].endswith("/admin/")
    client.post("/auth/logout", data=tokens)
    page = client.get("/auth/login?next=/admin/users")
    tokens = hidden_inputs(page.get_data(as_text=True))
    response = client.post("/auth/login?next=/admin/users", data={**tokens, "email": "admin@example.vn", "password": PASSWORD})
    assert response.headers["Location"].endswith("/admin/users")


def test_logout_needs_post_and_ends_the_session(client, make_user):
    make_user("admin")
    login(client, "admin@example.vn", PASSWORD)
    assert client.get("/admin/").status_code == 200
    assert client.get("/auth/logout").status_code == 405
    tokens = hidden_inputs(client.get("/admin/").get_data(as_text=True))
    assert client.post("/auth/logout", data=tokens).status_code == 303
    assert client.get("/admin/").status_code == 302


def test_repeated_login_posts_are_throttled(client, make_user):
    make_user("admin")
    statuses = [login(client, "nobody@example.vn", "x").status_code for _ in range(22)]
    assert 429 in statuses
    assert statuses[:20] == [401] * 20
