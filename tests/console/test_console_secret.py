"""Sessions cannot be forged on a default install: production refuses a known or short secret key; an empty one is a
random key kept in the data dir (what `hotline up` and `make run` use); the cookie is Secure behind https and a
session ends with the shift."""
from __future__ import annotations

import os
import stat
import time
from dataclasses import replace

import pytest
from console_support import sign_in
from flask.sessions import SecureCookieSessionInterface

from journal_api.app import create_app
from journal_api.bootstrap import bootstrap
from journal_api.config import load_settings
from journal_api.service.uow import MemoryPublisher


def _app(settings, pg_engine, **changes):
    return create_app(bootstrap(replace(settings, **changes), publisher=MemoryPublisher(), engine=pg_engine))


@pytest.mark.parametrize("key", ["dev-only-change-me", "short-key", "secret"])
def test_production_refuses_to_start_with_a_known_or_short_secret_key(settings, pg_engine, key):
    with pytest.raises(RuntimeError, match="secret_key"):
        _app(settings, pg_engine, env="production", secret_key=key)


def test_development_may_keep_the_old_default_key(settings, pg_engine):
    assert _app(settings, pg_engine, env="development", secret_key="dev-only-change-me").secret_key == \
        "dev-only-change-me"


def test_without_a_key_production_uses_a_random_one_kept_in_the_data_dir(settings, pg_engine, tmp_path):
    first = _app(settings, pg_engine, env="production", secret_key="", data_dir=str(tmp_path / "d"))
    kept = tmp_path / "d" / "secret_key"
    assert first.secret_key == kept.read_text().strip() and len(first.secret_key) >= 48
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    second = _app(settings, pg_engine, env="production", secret_key="", data_dir=str(tmp_path / "d"))
    assert second.secret_key == first.secret_key  # the web workers of one data dir agree
    other = _app(settings, pg_engine, env="production", secret_key="", data_dir=str(tmp_path / "e"))
    assert other.secret_key != first.secret_key  # another install, another key


def test_the_children_of_hotline_up_read_the_same_kept_key(tmp_path):
    environ = {"HOTLINE_SECRET_KEY": "", "HOTLINE_DATA_DIR": str(tmp_path)}  # what runner.child_env passes on
    web, worker = load_settings(environ=environ), load_settings(environ=environ)
    assert web.effective_secret_key == worker.effective_secret_key == (tmp_path / "secret_key").read_text().strip()


def test_a_cookie_signed_with_the_old_default_key_is_not_a_session(settings, pg_engine, container, dispatcher,
                                                                   tmp_path):
    app = _app(settings, pg_engine, env="production", secret_key="", data_dir=str(tmp_path / "p"))
    client = app.test_client()
    assert sign_in(client).status_code == 302
    with client.session_transaction() as s:
        content = dict(s)  # what a session of this dispatcher carries
    assert content["uid"] and content["since"], content
    honest = SecureCookieSessionInterface().get_signing_serializer(app).dumps(content)
    app.secret_key = "dev-only-change-me"  # the attacker's serializer
    forged = SecureCookieSessionInterface().get_signing_serializer(app).dumps(content)
    for cookie, status in ((honest, 200), (forged, 302)):
        fresh = _app(settings, pg_engine, env="production", secret_key="", data_dir=str(tmp_path / "p"))
        client = fresh.test_client()
        client.set_cookie("hotline_session", cookie)
        assert client.get("/board").status_code == status


def test_the_session_cookie_is_secure_behind_https_and_lasts_a_shift(settings, pg_engine, container, dispatcher):
    app = _app(settings, pg_engine, public_url="https://ads.example.ru")
    response = sign_in(app.test_client())
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("hotline_session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    plain = sign_in(_app(settings, pg_engine).test_client()).headers["Set-Cookie"]
    assert "Secure" not in plain


def test_a_session_older_than_a_shift_is_signed_out(console):
    assert console.get("/board").status_code == 200
    with console.session_transaction() as s:
        s["since"] = int(time.time()) - 12 * 3600 - 1
    response = console.get("/board")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
