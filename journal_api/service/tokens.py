"""API tokens: random secrets shown once; only their SHA-256 is stored."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa

from ..domain.errors import Forbidden, NotFound, ValidationError
from ..domain.events import Actor
from ..domain.registry import Organisation, Staff
from ..domain.worktypes import ROLES
from ..storage import tables as t
from ..storage.mapping import ApiToken
from .uow import UnitOfWork

PREFIX = "hl_"


@dataclass(frozen=True)
class Principal:
    """Who is calling the API: an organisation, a role and, for staff tokens, the staff member."""

    org_id: int
    org_code: str
    role: str
    staff_id: int | None
    token_id: int
    name: str

    @property
    def actor(self) -> Actor:
        if self.staff_id is not None:
            return Actor(kind="staff", role=self.role, id=self.staff_id, name=self.name)
        return Actor(kind="token", role=self.role, id=None, name=self.name)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork]):
        self.uow = uow_factory

    def create(self, org_code: str, role: str, staff_id: int | None = None, label: str | None = None) -> str:
        if role not in ROLES:
            raise ValidationError(f"Unknown role '{role}'. Use one of: {', '.join(ROLES)}.", field="role")
        if role == "technician" and staff_id is None:
            raise ValidationError("A technician's token must name his staff id (--staff ID): a technician sees "
                                  "only his own requests.", field="staff")
        with self.uow() as uow:
            s = uow.session
            org = s.scalar(sa.select(Organisation).where(t.organisations.c.code == org_code))
            if org is None:
                raise NotFound(f"Organisation '{org_code}' does not exist; run 'hotline seed demo' or create it.")
            if staff_id is not None:
                staff = s.get(Staff, staff_id)
                if staff is None or staff.org_id != org.id:
                    raise NotFound(f"Staff member {staff_id} does not exist in organisation '{org_code}'.")
                if staff.role != role and role == "technician":
                    raise ValidationError(f"Staff member {staff_id} is a {staff.role}, not a technician.")
            secret = PREFIX + secrets.token_urlsafe(32)
            s.add(ApiToken(org_id=org.id, token_hash=_hash(secret), prefix=secret[:10], role=role,
                           staff_id=staff_id, label=label, created_at=uow.clock()))
            uow.audit(org.id, Actor.system("cli"), "api_token", None, "create", {"role": role, "staff_id": staff_id})
            uow.commit()
            return secret

    def authenticate(self, secret: str) -> Principal:
        with self.uow() as uow:
            row = uow.session.execute(
                sa.select(t.api_tokens.c.id, t.api_tokens.c.org_id, t.api_tokens.c.role, t.api_tokens.c.staff_id,
                          t.api_tokens.c.revoked_at, t.api_tokens.c.label, t.organisations.c.code,
                          t.staff.c.full_name, t.staff.c.active)
                .join(t.organisations, t.organisations.c.id == t.api_tokens.c.org_id)
                .outerjoin(t.staff, t.staff.c.id == t.api_tokens.c.staff_id)
                .where(t.api_tokens.c.token_hash == _hash(secret))).one_or_none()
        if row is None or row.revoked_at is not None:
            raise Forbidden("The API token is unknown or revoked; create one with 'hotline token create'.")
        if row.staff_id is not None and not row.active:
            raise Forbidden("The staff member of this token is disabled.")
        name = row.full_name or row.label or f"token {row.id}"
        return Principal(row.org_id, row.code, row.role, row.staff_id, row.id, name)
