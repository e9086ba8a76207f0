"""SMS providers behind one small port. Each raises :class:`TransientError` (timeouts, 429, 5xx: retry later) or
:class:`PermanentError` (an invalid or unsubscribed number: never retry); anything else is a bug and propagates.

- ``log``: writes the message to the log and returns; the embedded default (the console shows the stored message).
- ``kannel``: smsbox's HTTP ``sendsms`` with a ``dlr-url`` back to our webhook; Cyrillic goes as UCS-2
  (``coding=2``, UTF-8 in the request).
- ``twilio``: the Messages API through the ``twilio`` library, with a status callback.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

import requests

from .settings import SmsSettings

log = logging.getLogger(__name__)


class SendError(Exception):
    code: str = "error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        if code:
            self.code = code


class TransientError(SendError):
    """Try again later (with backoff)."""


class PermanentError(SendError):
    """Retrying cannot help: an invalid or unsubscribed number, a refused message."""


@dataclass(frozen=True)
class Outgoing:
    message_id: int
    recipient: str  # E.164
    body: str
    encoding: str  # gsm7 | ucs2
    idempotency_key: str  # stable per message: "<deployment>-sms-<id>"


class Provider(Protocol):
    name: str

    def send(self, message: Outgoing) -> str:
        """Hand the message over; returns the provider's message id."""


class LogProvider:
    name = "log"

    def send(self, message: Outgoing) -> str:
        log.info("SMS to %s (%s): %s", message.recipient, message.encoding, message.body)
        return f"log-{message.message_id}"


class KannelProvider:
    name = "kannel"

    def __init__(self, settings: SmsSettings, callback_base: str, session: requests.Session | None = None):
        self.settings = settings
        self.callback_base = callback_base.rstrip("/")
        self.http = session or requests.Session()

    def dlr_url(self, message: Outgoing) -> str:
        # Kannel fills %d (the report type), %T (its time) and %A (the SMSC's answer) when it calls back.
        query = urlencode({"secret": self.settings.kannel_secret, "id": message.message_id})
        return f"{self.callback_base}/sms/kannel/dlr?{query}&type=%d&ts=%T&answer=%A"

    def send(self, message: Outgoing) -> str:
        s = self.settings
        params = {"username": s.kannel_username, "password": s.kannel_password, "from": s.sender,
                  "to": message.recipient, "text": message.body, "charset": "UTF-8",
                  "coding": "2" if message.encoding == "ucs2" else "0", "dlr-mask": "31",
                  "dlr-url": self.dlr_url(message)}
        if s.kannel_smsc_id:
            params["smsc"] = s.kannel_smsc_id
        try:
            response = self.http.get(s.kannel_sendsms_url, params=params, timeout=s.timeout_seconds)
        except requests.Timeout as exc:
            raise TransientError(f"Kannel did not answer in {s.timeout_seconds:g} s", "timeout") from exc
        except requests.ConnectionError as exc:
            raise TransientError(f"Kannel is unreachable: {exc}", "unreachable") from exc
        text = response.text.strip()[:200]
        if response.status_code in (200, 202):
            return f"kannel-{message.message_id}"  # Kannel has no id of its own here; the DLR carries ours
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(f"Kannel {response.status_code}: {text}", str(response.status_code))
        raise PermanentError(f"Kannel {response.status_code}: {text}", str(response.status_code))


# Twilio error codes (https://www.twilio.com/docs/api/errors) that retrying cannot fix.
TWILIO_PERMANENT = {21211: "invalid_number", 21214: "invalid_number", 21408: "not_permitted",
                    21610: "unsubscribed", 21612: "unreachable_route", 21614: "not_mobile"}


class TwilioProvider:
    name = "twilio"

    def __init__(self, settings: SmsSettings, callback_base: str):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self.settings = settings
        self.callback_base = callback_base.rstrip("/")
        self.client = Client(settings.twilio_account_sid, settings.twilio_auth_token,
                             http_client=TwilioHttpClient(timeout=settings.timeout_seconds))
        if settings.twilio_base_url:
            self.client.api.base_url = settings.twilio_base_url.rstrip("/")

    def send(self, message: Outgoing) -> str:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        s = self.settings
        kwargs = {"to": message.recipient, "body": message.body,
                  "status_callback": f"{self.callback_base}/sms/twilio/status"}
        if s.twilio_messaging_service_sid:
            kwargs["messaging_service_sid"] = s.twilio_messaging_service_sid
        else:
            kwargs["from_"] = s.twilio_from or s.sender
        try:
            sent = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            if exc.code in TWILIO_PERMANENT:
                raise PermanentError(f"Twilio {exc.code}: {exc.msg}", TWILIO_PERMANENT[exc.code]) from exc
            if exc.status == 429 or exc.status >= 500 or exc.code == 20429:
                raise TransientError(f"Twilio {exc.status}/{exc.code}: {exc.msg}", str(exc.code)) from exc
            raise PermanentError(f"Twilio {exc.status}/{exc.code}: {exc.msg}", str(exc.code)) from exc
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise TransientError(f"Twilio is unreachable: {exc}", "timeout") from exc
        except TwilioException as exc:  # the library wraps connection trouble in its own exception
            raise TransientError(f"Twilio: {exc}", "unreachable") from exc
        return sent.sid


def make_provider(settings: SmsSettings, callback_base: str) -> Provider:
    if settings.provider == "kannel":
        return KannelProvider(settings, callback_base)
    if settings.provider == "twilio":
        return TwilioProvider(settings, callback_base)
    if settings.provider == "log":
        return LogProvider()
    raise ValueError(f"unknown SMS provider '{settings.provider}': use log, kannel or twilio")
