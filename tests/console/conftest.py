"""Fixtures of the console tests: a request to look at, a dispatcher who can sign in, a signed-in test client, a
request with a recorded and transcribed call, the app served on a free port for the browser tests."""
from __future__ import annotations

import threading

import pytest
from console_support import DISPATCHER, PASSWORD, SYSTEM, WORDS, csrf_of, sign_in, write_wav

from journal_api.service.console_auth import ConsoleAuth
from journal_api.service.requests import NewRequest


@pytest.fixture
def make_request(container, org, building):
    def make(org_id=None, building_id=None, **fields):
        data = {"description": "Течёт труба в ванной", "work_type": "water",
                "building_id": building.id if building_id is None else building_id,
                "apartment": 12, "caller_phone": "+7 903 555-10-01", "channel": "phone", **fields}
        return container.requests.register(org_id or org.id, DISPATCHER, NewRequest(**data))

    return make


def _staff_who_signs_in(container, org, full_name, role, phone, login):
    staff = container.registry.upsert_staff(org.id, SYSTEM, {"full_name": full_name, "role": role, "phone": phone})
    ConsoleAuth(container.uow, container.clock).set_password("demo", staff.id, PASSWORD, login=login)
    return staff


def _signed_in(client, login):
    response = sign_in(client, login=login)
    assert response.status_code == 302, response.get_data(as_text=True)
    client.csrf = csrf_of(client, "/journal")
    return client


@pytest.fixture
def dispatcher(container, org):
    return _staff_who_signs_in(container, org, "Петрова Анна Сергеевна", "dispatcher", "+7 903 111-22-33", "petrova")


@pytest.fixture
def console(client, dispatcher):
    """A test client signed in as the dispatcher; ``console.csrf`` is the token for its forms."""
    return _signed_in(client, "petrova")


@pytest.fixture
def manager(container, org):
    return _staff_who_signs_in(container, org, "Орлов Алексей Викторович", "manager", "+7 903 111-22-44", "orlov")


@pytest.fixture
def manager_console(app, manager):
    """A second test client, signed in as the organisation's manager (analytics and exports are his)."""
    return _signed_in(app.test_client(), "orlov")


@pytest.fixture
def recorded_request(container, org, make_request, tmp_path):
    """A request registered from a call, with the caller's description recorded and transcribed."""
    r = make_request(description="Течёт труба")
    now = container.clock()
    call_id = container.calls.open_call(org_id=org.id, sip_call_id="sip-1", call_uuid="uuid-1",
                                        from_number="+79035551001", to_number="+74950000000", arrived_at=now)
    container.calls.answered(call_id, now)
    rec_id = container.calls.attach_recording(call_id=call_id, kind="description",
                                              path=write_wav(tmp_path / "d.wav"), request_id=r.id)
    tid = container.transcripts.open(org_id=org.id, kind="description", call_id=call_id, recording_id=rec_id,
                                     request_id=r.id)
    container.transcripts.complete(tid, {"engine": "test", "text": " ".join(w["w"] for w in WORDS), "words": WORDS,
                                         "language": "ru"},
                                   {"work_type": {"value": "water", "confidence": 0.87}, "filled": []})
    return r, rec_id, call_id


@pytest.fixture
def server(app):
    """The app on a free port in a thread of this process (werkzeug), for the browser."""
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless, through Playwright (one per test module)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--autoplay-policy=no-user-gesture-required"])  # the player test plays audio
        yield b
        b.close()
