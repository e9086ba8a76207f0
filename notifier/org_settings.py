"""An organisation's own SMS provider: ``GET``/``PUT /api/v1/sms/settings`` (admin role) write the ``sms`` object of
the organisation's settings JSON, which :func:`notifier.settings.for_org` lays over the deployment's ``[sms]``.

The body is validated (unknown keys refused); secrets (the Kannel password and webhook secret, the Twilio auth token)
are never echoed back: the answer says whether each one is set. A ``PUT`` replaces the block, except that a secret
left out keeps its stored value (an admin changes the sender without retyping the token); ``""`` clears it. Every
write is in the audit log, with the secrets masked. Other processes see a change within ``SETTINGS_TTL`` seconds.
"""
from __future__ import annotations

import ipaddress
from typing import Literal

import pydantic
import sqlalchemy as sa
from flask import Blueprint

from journal_api.api.core import endpoint, principal, services
from journal_api.domain.errors import NotFound
from journal_api.domain.events import Actor
from journal_api.storage import tables as t

SECRETS = ("kannel_password", "kannel_secret", "twilio_auth_token")
MASK = "***"
bp = Blueprint("sms_settings", __name__, url_prefix="/api/v1/sms")


class SmsSettingsIn(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", str_strip_whitespace=True)

    provider: Literal["log", "kannel", "twilio"]
    sender: str | None = pydantic.Field(None, min_length=1, max_length=16)
    rate_per_second: float | None = pydantic.Field(None, gt=0, le=1000)
    callback_url: pydantic.HttpUrl | None = None
    kannel_sendsms_url: pydantic.HttpUrl | None = None
    kannel_username: str | None = pydantic.Field(None, max_length=64)
    kannel_password: str | None = pydantic.Field(None, max_length=128)
    kannel_smsc_id: str | None = pydantic.Field(None, max_length=64)
    kannel_secret: str | None = pydantic.Field(None, max_length=128)
    kannel_allow_ips: str | None = pydantic.Field(None, max_length=500)
    twilio_account_sid: str | None = pydantic.Field(None, pattern=r"^AC[0-9a-fA-F]{32}$")
    twilio_auth_token: str | None = pydantic.Field(None, max_length=128)
    twilio_from: str | None = pydantic.Field(None, max_length=32)
    twilio_messaging_service_sid: str | None = pydantic.Field(None, pattern=r"^MG[0-9a-fA-F]{32}$")

    @pydantic.field_validator("kannel_allow_ips")
    @classmethod
    def _networks(cls, value: str | None) -> str | None:
        for item in (part.strip() for part in (value or "").split(",")):
            if item:
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(f"'{item}' is not an address or a CIDR network") from None
        return value

    @pydantic.field_validator("kannel_secret")
    @classmethod
    def _strong(cls, value: str | None) -> str | None:
        if value and len(value) < 16:
            raise ValueError("a webhook secret needs at least 16 characters")
        return value


class SmsSettingsService:
    """Reads and writes the ``sms`` block of an organisation's settings (the write path: audited)."""

    def __init__(self, container):
        self.c = container

    def get(self, org_id: int) -> dict:
        with self.c.engine.connect() as conn:
            own = conn.execute(sa.select(t.organisations.c.settings).where(t.organisations.c.id == org_id)).first()
        if own is None:
            raise NotFound(f"Organisation {org_id} does not exist.")
        return public((own.settings or {}).get("sms") or {})

    def put(self, org_id: int, actor: Actor, data: SmsSettingsIn) -> dict:
        sent = data.model_dump(mode="json", exclude_unset=True)
        with self.c.uow() as uow:
            s = uow.session
            row = s.execute(sa.select(t.organisations.c.settings).where(t.organisations.c.id == org_id)
                            .with_for_update()).first()
            if row is None:
                raise NotFound(f"Organisation {org_id} does not exist.")
            settings = dict(row.settings or {})
            before = settings.get("sms") or {}
            block = {key: value for key, value in sent.items() if value is not None and key not in SECRETS}
            for key in SECRETS:
                value = sent[key] if key in sent else before.get(key)
                if value:  # left out: kept; "" or null: cleared
                    block[key] = value
            settings["sms"] = block
            s.execute(sa.update(t.organisations).where(t.organisations.c.id == org_id).values(settings=settings))
            uow.audit(org_id, actor, "organisation", org_id, "sms_settings", {"sms": masked(block)})
            uow.commit()
        return public(block)


def masked(block: dict) -> dict:
    return {key: (MASK if key in SECRETS and value else value) for key, value in block.items()}


def public(block: dict) -> dict:
    """The block as the API shows it: secrets replaced by whether they are set."""
    out = {key: value for key, value in block.items() if key not in SECRETS}
    out.update({f"{key}_set": bool(block.get(key)) for key in SECRETS})
    return out


@endpoint(bp, "GET", "/settings", summary="The organisation's own SMS provider (secrets are not shown)",
          roles=("admin",), tag="sms")
def get_sms_settings():
    return SmsSettingsService(services()).get(principal().org_id)


@endpoint(bp, "PUT", "/settings", summary="Set the organisation's own SMS provider (a secret left out is kept)",
          roles=("admin",), body=SmsSettingsIn, tag="sms")
def put_sms_settings(body: SmsSettingsIn):
    who = principal()
    return SmsSettingsService(services()).put(who.org_id, who.actor, body)
