"""The notifier's settings: ``[sms]`` in the TOML file or ``HOTLINE_SMS_*`` variables (load_section), overridden per
organisation by the ``sms`` object of the organisation's settings JSON (e.g. its own provider and sender)."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

from journal_api.config import load_section


@dataclass(frozen=True)
class SmsSettings:
    provider: str = "log"  # log | kannel | twilio
    sender: str = "HOTLINE"  # the sender id or number the messages come from
    rate_per_second: float = 20.0  # per provider, across all workers (a Redis counter per second)
    max_attempts: int = 6  # transient failures are retried this many times in all, then a dispatcher is alerted
    backoff_seconds: float = 5.0  # first retry delay; doubles each time (with jitter), at most backoff_max_seconds
    backoff_max_seconds: float = 600.0
    timeout_seconds: float = 10.0  # one provider call
    lease_seconds: float = 60.0  # a queued message whose job has not run by then is enqueued again (Redis lost it)
    link_ttl_hours: int = 72  # the technician's link
    resident_link_ttl_hours: int = 720  # the resident's link: he rates the work days later (at most 90 days)
    callback_url: str = ""  # the web app's base URL as the provider reaches it (DLR, status); empty: public_url
    # Kannel: smsbox's sendsms interface; the MO/DLR webhooks check the shared secret and the source address.
    kannel_sendsms_url: str = "http://127.0.0.1:13013/cgi-bin/sendsms"
    kannel_username: str = "hotline"
    kannel_password: str = ""
    kannel_smsc_id: str = ""
    kannel_secret: str = ""  # in the get-url/dlr-url query (?secret=...); empty: the webhooks are closed
    kannel_allow_ips: str = "127.0.0.1"  # comma-separated addresses or CIDR networks of the smsbox hosts
    # Twilio: Messages API with a status callback; the inbound webhook is verified with RequestValidator.
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""
    twilio_messaging_service_sid: str = ""
    twilio_base_url: str = ""  # empty: the real API; tests point it at a local Twilio-compatible server
    proxy_hops: int = 0  # reverse proxies in front of the web app (ProxyFix), so Twilio signatures verify
    inbound_per_minute: int = 20  # per sender: more is refused (429) and written nowhere


def load_sms_settings(environ: dict | None = None, config_file: str | None = None) -> SmsSettings:
    return load_section(SmsSettings, "sms", environ=environ, config_file=config_file)


def for_org(base: SmsSettings, org_settings: dict | None) -> SmsSettings:
    """The organisation's own values (its settings JSON under "sms") over the deployment's."""
    own = (org_settings or {}).get("sms") or {}
    known = {f.name: f.type for f in fields(SmsSettings)}
    values = {}
    for key, value in own.items():
        if key not in known:
            continue  # an unknown key in stored JSON must not stop messages; the API validates on write
        kind = type(getattr(base, key))
        values[key] = kind(value)
    return replace(base, **values)
