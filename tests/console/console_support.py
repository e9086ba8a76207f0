"""Helpers of the console tests (a module of its own: several test folders have a conftest.py, so tests must not
import from "conftest")."""
from __future__ import annotations

import re

from journal_api.domain.events import Actor

DISPATCHER = Actor(kind="staff", role="dispatcher", name="Петрова А.С.")
SYSTEM = Actor.system("test")
PASSWORD = "верный-пароль-1"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(client, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return CSRF.search(page).group(1)


def sign_in(client, org_code: str = "demo", login: str = "petrova", password: str = PASSWORD):
    token = csrf_of(client)
    return client.post("/login", data={"org": org_code, "login": login, "password": password, "csrf_token": token})


def sign_in_page(page, server: str, login: str = "petrova", start: str = "/") -> None:
    """In a browser: open ``start`` (the sign-in form), sign in as ``login`` and land on the board."""
    page.goto(server + start)
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server + "/board")


def write_wav(path, seconds: float = 3.0, rate: int = 8000) -> str:
    """A real 8 kHz mono 16-bit WAV: a tone, so a browser can play it and its clock advances."""
    import math
    import struct
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                                 for i in range(int(seconds * rate))))
    return str(path)


WORDS = [{"w": "у", "start": 0.0, "end": 0.4, "conf": 0.9}, {"w": "нас", "start": 0.5, "end": 0.9, "conf": 0.95},
         {"w": "течёт", "start": 1.0, "end": 1.5, "conf": 0.5}, {"w": "<script>alert(1)</script>", "start": 1.6,
                                                                  "end": 2.2, "conf": 0.9},
         {"w": "труба", "start": 2.3, "end": 2.9, "conf": 0.9}]


def wait_js(page, expression: str, timeout: float = 10.0, every_ms: int = 50):
    """Poll a JavaScript expression until it is truthy. (Playwright's wait_for_function evaluates strings inside
    the page, which the console's Content Security Policy rightly refuses.)"""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        page.wait_for_timeout(every_ms)
