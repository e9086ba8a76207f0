"""Webhooks of the SMS providers (blueprint ``sms`` under /sms). Handlers are short: verify, hand over, answer.

- Kannel (smsbox ``get-url`` for MO, ``dlr-url`` for receipts): a shared secret in the query (the deployment's, or an
  organisation's own, which then names the organisation) and the source address in the matching
  ``kannel_allow_ips``.
- Twilio (inbound and status callbacks): ``X-Twilio-Signature`` checked with the library's RequestValidator over the
  URL Twilio called (behind a proxy set ``proxy_hops`` so ProxyFix restores it).
- Every inbound message: at most ``inbound_per_minute`` per sender. A forged request (bad secret, address or
  signature), a replayed one (a provider message id seen before) or one over the limit: 403/429 and nothing written.
"""
from __future__ import annotations

import ipaddress
import logging
from urllib.parse import parse_qsl

from flask import Blueprint, Response, abort, current_app, request

from .ratelimit import InboundLimiter

log = logging.getLogger(__name__)
bp = Blueprint("sms", __name__, url_prefix="/sms")
# the admin API of an organisation's own provider comes with the webhooks (notifier/org_settings.py)
bp.record_once(lambda state: state.app.register_blueprint(_settings_api()))


def _settings_api() -> Blueprint:
    from .org_settings import bp as settings_bp

    return settings_bp
# Kannel's DLR types: 1 delivered, 2 undelivered, 4 queued at the SMSC, 8 accepted by the SMSC, 16 rejected.
KANNEL_DLR = {1: "delivered", 2: "undelivered", 4: "sent", 8: "sent", 16: "undelivered"}
TWILIO_STATUS = {"sent": "sent", "delivered": "delivered", "undelivered": "undelivered", "failed": "undelivered",
                 "read": "delivered"}


def _notifier():
    return current_app.extensions["hotline.notifier"]


def _inbound():
    return current_app.extensions["hotline.sms_inbound"]


def _allowed(remote: str | None, allow: str) -> bool:
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return False
    for item in (part.strip() for part in allow.split(",")):
        if item and address in ipaddress.ip_network(item, strict=False):
            return True
    return False


def _kannel_check(args: dict) -> int | None:
    """The secret is the deployment's (-> None) or an organisation's own (-> its id); the source address must be
    in the matching ``kannel_allow_ips``. Anything else: 403."""
    sent = args.get("secret", "")
    org_id, s = _notifier().kannel_secret_owner(sent) if sent else (None, None)
    if s is None:
        log.warning("Kannel webhook refused: wrong secret from %s", request.remote_addr)
        abort(403)
    if not _allowed(request.remote_addr, s.kannel_allow_ips):
        log.warning("Kannel webhook refused: %s is not an allowed address", request.remote_addr)
        abort(403)
    return org_id


def _kannel_args() -> dict:
    """The query; the text is decoded in the charset Kannel names (%C): UTF-8 after mo-recode, or UCS-2."""
    raw = request.query_string.decode("ascii", "replace")
    args = dict(parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="replace"))
    charset = (args.get("charset") or "UTF-8").upper()
    encoding = {"UTF-16BE": "utf-16-be", "UCS-2": "utf-16-be", "UTF-16": "utf-16-be"}.get(charset)
    if encoding:
        for key, value in parse_qsl(raw, keep_blank_values=True, encoding="latin-1"):
            if key == "text":
                try:
                    args["text"] = value.encode("latin-1").decode(encoding)
                except UnicodeDecodeError:
                    pass
    return args


def _limit(sender: str) -> None:
    n = _notifier()
    prefix = f"hotline:sms:in:{n.c.settings.queue_name}"
    if not InboundLimiter(n.redis, prefix).allow(sender, n.base.inbound_per_minute):
        abort(429)


@bp.route("/kannel/mo", methods=["GET"])
def kannel_mo():
    args = _kannel_args()
    org_id = _kannel_check(args)
    sender, message_id = args.get("from", ""), args.get("id", "")
    if not sender or not message_id:
        abort(400)
    _limit(sender)
    outcome = _inbound().receive(provider="kannel", provider_message_id=message_id, sender=sender,
                                 recipient=args.get("to"), body=args.get("text", ""), org_id=org_id)
    if outcome.outcome == "duplicate":
        abort(403)
    return Response("", status=200, mimetype="text/plain")


@bp.route("/kannel/dlr", methods=["GET"])
def kannel_dlr():
    args = _kannel_args()
    org_id = _kannel_check(args)
    try:
        message_id, kind = int(args.get("id", "")), int(args.get("type", ""))
    except ValueError:
        abort(400)
    status = KANNEL_DLR.get(kind)
    if status:  # an organisation's secret moves that organisation's messages only
        _notifier().receipt(status=status, message_id=message_id, error=args.get("answer") or None, org_id=org_id)
    return Response("", status=200, mimetype="text/plain")


def _twilio_check():
    from twilio.request_validator import RequestValidator

    s = _notifier().settings_for_account(request.form.get("AccountSid", ""))
    signature = request.headers.get("X-Twilio-Signature", "")
    if not s.twilio_auth_token or not RequestValidator(s.twilio_auth_token).validate(
            request.url, request.form.to_dict(), signature):
        log.warning("Twilio webhook refused: bad signature for %s", request.url)
        abort(403)


@bp.route("/twilio/inbound", methods=["POST"])
def twilio_inbound():
    _twilio_check()
    sender, sid = request.form.get("From", ""), request.form.get("MessageSid", "")
    if not sender or not sid:
        abort(400)
    _limit(sender)
    outcome = _inbound().receive(provider="twilio", provider_message_id=sid, sender=sender,
                                 recipient=request.form.get("To"), body=request.form.get("Body", ""))
    if outcome.outcome == "duplicate":
        abort(403)
    return Response("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>", mimetype="text/xml")


@bp.route("/twilio/status", methods=["POST"])
def twilio_status():
    _twilio_check()
    status = TWILIO_STATUS.get(request.form.get("MessageStatus", ""))
    if status:
        error = request.form.get("ErrorCode")
        _notifier().receipt(status=status, provider="twilio", provider_message_id=request.form.get("MessageSid"),
                            error=f"Twilio {error}" if error else None)
    return Response("", status=204)
