"""Sign-in: argon2 passwords, sessions, CSRF on every POST, roles; and the command that sets a password."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from console_support import PASSWORD, SYSTEM, csrf_of, sign_in

from journal_api.domain.errors import ValidationError
from journal_api.service.console_auth import MAX_FAILURES, ConsoleAuth
from journal_api.storage.tables_console import console_users


def test_the_landing_page_is_the_sign_in_form(client):
    page = client.get("/").get_data(as_text=True)
    assert 'name="password"' in page and "Вход в консоль" in page


def test_pages_send_a_signed_out_person_to_the_sign_in_form(client):
    for path in ("/board", "/journal", "/monitor", "/analytics", "/requests/1", "/journal/export.xlsx"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_a_dispatcher_signs_in_and_sees_the_board(client, dispatcher):
    response = sign_in(client)
    assert response.status_code == 302 and response.headers["Location"].endswith("/board")
    page = client.get("/board").get_data(as_text=True)
    assert "Петрова Анна Сергеевна" in page and "Табло" in page


def test_a_wrong_password_an_unknown_login_and_another_organisation_get_the_same_answer(client, dispatcher,
                                                                                      other_org):
    answers = [sign_in(client, password="не тот пароль"), sign_in(client, login="nobody"),
               sign_in(client, org_code="other")]
    assert {r.status_code for r in answers} == {401}
    assert all("Неверная организация, логин или пароль." in r.get_data(as_text=True) for r in answers)
    assert client.get("/board").status_code == 302


def test_only_the_argon2_hash_of_the_password_is_stored(container, dispatcher):
    with container.engine.connect() as conn:
        stored = conn.scalar(sa.select(console_users.c.password_hash))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_a_post_without_the_csrf_token_is_refused(console, make_request):
    r = make_request()
    for data in ({}, {"csrf_token": "forged"}):
        response = console.post(f"/requests/{r.number}/comment", data={"text": "без токена", **data})
        assert response.status_code == 400
        assert "Форма устарела" in response.get_data(as_text=True)
    history = console.get(f"/requests/{r.number}").get_data(as_text=True)
    assert "без токена" not in history


def test_signing_in_needs_the_csrf_token_too(client, dispatcher):
    response = client.post("/login", data={"org": "demo", "login": "petrova", "password": PASSWORD})
    assert response.status_code == 400


def test_sign_out_is_a_post_and_ends_the_session(console):
    assert console.post("/logout", data={"csrf_token": console.csrf}).status_code == 302
    assert console.get("/board").status_code == 302


def test_setting_the_password_again_ends_the_older_sessions(console, container, dispatcher):
    ConsoleAuth(container.uow, container.clock).set_password("demo", dispatcher.id, "новый-пароль-2")
    assert console.get("/board").status_code == 302


def test_a_disabled_staff_member_is_signed_out(console, container, org, dispatcher):
    container.registry.update_staff(org.id, SYSTEM, dispatcher.id, {"active": False})
    assert console.get("/journal").status_code == 302


def test_after_too_many_wrong_passwords_the_login_is_locked_for_a_while(client, dispatcher):
    for _ in range(MAX_FAILURES):
        sign_in(client, password="неверно!")
    response = sign_in(client)
    assert response.status_code == 401 and "Слишком много" in response.get_data(as_text=True)


def test_after_sign_in_only_a_path_of_this_site_is_followed(client, dispatcher):
    token = csrf_of(client)
    response = client.post("/login", data={"org": "demo", "login": "petrova", "password": PASSWORD,
                                           "csrf_token": token, "next": "//evil.example/x"})
    assert response.headers["Location"].endswith("/board")


def test_a_technician_gets_no_console_login(container, technician):
    with pytest.raises(ValidationError):
        ConsoleAuth(container.uow, container.clock).set_password("demo", technician.id, "пароль-техника")


def test_a_short_password_is_refused(container, dispatcher):
    with pytest.raises(ValidationError):
        ConsoleAuth(container.uow, container.clock).set_password("demo", dispatcher.id, "short")


def test_the_command_sets_a_password_that_signs_in(settings, container, org, client, monkeypatch):
    from journal_api.cli import _plug, cli

    staff = container.registry.upsert_staff(org.id, SYSTEM, {
        "full_name": "Белова Марина", "role": "dispatcher", "phone": "+7 903 222-33-44", "sip_account": "belova"})
    for key, value in {"HOTLINE_DATABASE_URL": settings.database_url, "HOTLINE_DATA_DIR": settings.data_dir,
                       "HOTLINE_USER_PASSWORD": "пароль-из-скрипта"}.items():
        monkeypatch.setenv(key, value)
    _plug()
    result = CliRunner().invoke(cli, ["user", "password", "--org", "demo", "--staff", str(staff.id)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "belova"
    assert sign_in(client, login="belova", password="пароль-из-скрипта").status_code == 302


def test_the_demo_seed_gives_a_dispatcher_a_console_login(container, client):
    from journal_api.seed import seed_demo

    report = seed_demo(container)
    assert report.created.get("console_logins") == 2
    assert seed_demo(container).created.get("console_logins") is None
    assert sign_in(client, login="dispatcher", password="dispatcher").status_code == 302


def test_the_api_keeps_its_json_errors_while_pages_get_a_russian_one(client):
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.get_json()["error"]["code"] == "not_found"
    page = client.get("/no-such-page")
    assert page.status_code == 404 and "Страница не найдена" in page.get_data(as_text=True)
