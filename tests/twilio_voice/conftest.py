"""Fixtures of the Twilio Voice tests: an account, the local Recordings API, and the app's Twilio Voice webhooks
wired to them (the default flow; prompts from the installed catalogue)."""
from __future__ import annotations

import secrets

import pytest

from telephony.twilio_calls import TwilioVoiceSettings
from telephony.twilio_voice import EXT, VoiceWeb

from twilio_api import TwilioServer


@pytest.fixture
def account():
    return "AC" + secrets.token_hex(16), secrets.token_hex(16)


@pytest.fixture
def recordings(account):
    with TwilioServer(*account) as server:
        yield server


@pytest.fixture
def voice_settings(account, recordings):
    return TwilioVoiceSettings(account_sid=account[0], auth_token=account[1], api_base_url=recordings.url,
                               dispatchers="", public_url="https://hotline.example")


@pytest.fixture
def voice(app, container, voice_settings):
    web = VoiceWeb(container, voice_settings)
    app.extensions[EXT] = web
    return web
