"""Twilio Voice webhooks (blueprint ``twilio_voice`` under /twilio/voice): the same ``ivr_flows`` flow as the SIP
workers, rendered to TwiML node by node (issue 8 §2; docs/twilio_voice.md).

Every POST is checked with the twilio library's ``RequestValidator`` against the URL Twilio called (behind proxies set
``[twilio_voice] proxy_hops`` so ProxyFix restores it); a forged or unsigned one gets 403 and nothing is written.
Handlers are short: verify, hand the event to :class:`telephony.twilio_calls.VoiceCalls`, render.

- ``POST /incoming``: the call's webhook (Voice URL of the number); set ``/status`` as its status callback.
- ``POST /gather``: ``Digits`` (none: a timeout). ``POST /record?name=``: the Record verb's action.
- ``POST /dial``: the Dial verb's action (``DialCallStatus``). ``POST /recording?name=``: the recording is ready.
- ``POST /status``: the call ended. ``GET /prompts/<id>.wav``: the prompts Twilio plays (public audio, unsigned).
"""
from __future__ import annotations

import logging
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, request, send_file

from ivr_flows import actions as A
from ivr_flows import events as E
from ivr_flows.twiml import Prompts, Urls, render

log = logging.getLogger(__name__)
bp = Blueprint("twilio_voice", __name__, url_prefix="/twilio/voice")
EXT = "hotline.twilio_voice"
ENDED = ("completed", "busy", "failed", "no-answer", "canceled")
RECORD_KINDS = ("description", "voicemail")


class VoiceWeb:
    """What the handlers share: the calls, the settings and the prompt catalogue."""

    def __init__(self, container, settings=None, flow=None, catalogue=None):
        from ivr_flows.prompts import catalogue_for

        from .twilio_calls import VoiceCalls, load_voice_settings

        self.settings = settings or load_voice_settings()
        self.calls = VoiceCalls(container, self.settings, flow)
        self.catalogue = catalogue or catalogue_for(container.settings)
        self.prompts = Prompts(has_audio=self._has_audio, text=self._text)

    def _has_audio(self, prompt_id: str) -> bool:
        return self.wav(prompt_id) is not None

    def _text(self, prompt_id: str) -> str:
        return self.catalogue.prompts[prompt_id].text if prompt_id in self.catalogue.prompts else ""

    def wav(self, prompt_id: str) -> Path | None:
        try:
            return self.catalogue.path(prompt_id)
        except (KeyError, FileNotFoundError):
            return None

    def urls(self) -> Urls:
        base = (self.settings.public_url or request.url_root).rstrip("/")
        return Urls(audio_base=f"{base}{bp.url_prefix}/prompts")


def register(app, container) -> None:
    """Register the blueprint (telephony's plugin ``web()`` calls this). The flow and the catalogue are loaded on the
    first webhook, so an app that never gets one pays nothing for them."""
    from .twilio_calls import load_voice_settings

    settings = load_voice_settings()
    app.extensions[EXT] = lambda: VoiceWeb(container, settings)
    hops = settings.proxy_hops
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        if not isinstance(app.wsgi_app, ProxyFix):  # the SMS webhooks may have wrapped the app already
            app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    app.register_blueprint(bp)


def _web() -> VoiceWeb:
    web = current_app.extensions[EXT]
    if not isinstance(web, VoiceWeb):  # built once, on the first webhook
        web = current_app.extensions[EXT] = web()
    return web


@bp.before_request
def _verify():
    if request.method != "POST":
        return None
    from twilio.request_validator import RequestValidator

    s = _web().settings
    signature = request.headers.get("X-Twilio-Signature", "")
    form = request.form.to_dict()
    if not s.auth_token or not signature or form.get("AccountSid") != s.account_sid or \
            not RequestValidator(s.auth_token).validate(request.url, form, signature):
        log.warning("Twilio Voice webhook refused: bad signature for %s", request.url)
        abort(403)
    if not form.get("CallSid"):
        abort(400)
    return None


def _twiml(actions) -> Response:
    web = _web()
    return Response(render(actions, web.prompts, web.urls()), mimetype="text/xml")


def _advance(event) -> Response:
    actions = _web().calls.advance(request.form["CallSid"], event)
    if actions is None:  # a call we never opened (e.g. its incoming webhook failed): end it cleanly
        actions = [A.Hangup("unknown_call")]
    return _twiml(actions)


@bp.post("/incoming")
def incoming():
    f = request.form
    actions = _web().calls.start(call_sid=f["CallSid"], caller=f.get("From"), did=f.get("To"))
    if actions is None:
        log.warning("Twilio call %s to %s: no organisation takes this number", f["CallSid"], f.get("To"))
        return Response('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Reject reason="rejected"/></Response>\n',
                        mimetype="text/xml")
    return _twiml(actions)


@bp.post("/gather")
def gather():
    digits = request.form.get("Digits", "")
    return _advance(E.Digits(digits) if digits else E.Timeout())


@bp.post("/record")
def record():
    name = request.args.get("name", "")
    if name not in RECORD_KINDS:
        abort(400)
    if request.args.get("empty"):
        return _advance(E.Recorded(name, 0.0, "silence"))
    f = request.form
    try:
        duration = float(f.get("RecordingDuration") or 0)
    except ValueError:
        duration = 0.0
    digits = f.get("Digits", "")
    reason = "terminator" if digits and digits != "hangup" else "silence"
    return _advance(E.Recorded(name, duration, reason))


@bp.post("/dial")
def dial():
    answered = request.form.get("DialCallStatus", "") in ("completed", "answered")
    return _advance(E.TransferResult(answered))


@bp.post("/recording")
def recording():
    name = request.args.get("name", "")
    f = request.form
    if name not in RECORD_KINDS or not f.get("RecordingSid"):
        abort(400)
    if f.get("RecordingStatus", "completed") != "completed":
        log.warning("Twilio recording %s of %s: %s", f["RecordingSid"], f["CallSid"], f.get("RecordingStatus"))
        return Response("", status=204)
    stored = _web().calls.store_recording(call_sid=f["CallSid"], recording_sid=f["RecordingSid"], kind=name)
    return Response("", status=204 if stored is not None else 404)


@bp.post("/status")
def status():
    f = request.form
    if f.get("CallStatus") in ENDED:
        _web().calls.hung_up(f["CallSid"], cause=f.get("CallStatus"))
    return Response("", status=204)


@bp.get("/prompts/<path:prompt_id>.wav")
def prompt_audio(prompt_id: str):
    path = _web().wav(prompt_id)
    if path is None:
        abort(404)
    return send_file(path, mimetype="audio/wav", max_age=3600)
