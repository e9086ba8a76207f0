"""API tokens: random secrets shown once; only their SHA-256 is stored.

Authentication is on every API call, so the principals it finds are cached in this process for a few seconds
(``token_cache_seconds``), keyed by the token's hash; only successes are cached. When a staff member changes in this
process (disabled, role changed), bootstrap clears the cache at once. Another process notices only when its entry
expires: the cache time is the longest a disabled staff member's token keeps working there.
"""
from __future__ import annotations

import hashlib
import secrets
import time
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
CACHE_MAX = 10_000  # cached principals; past it the cache starts again empty


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
    def __init__(self, uow_factory: Callable[[], UnitOfWork], *, cache_seconds: float = 10.0,
                 monotonic: Callable[[], float] = time.monotonic):
        self.uow = uow_factory
        self.cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, Principal]] = {}  # token hash -> (expires at, principal)
        self._generation = 0  # bumped by forget(): a lookup that raced it does not cache what it read

    def forget(self) -> None:
        """Drop every cached principal: a staff member changed, so the next call of each token reads it again."""
        self._generation += 1
        self._cache.clear()

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
        key, now = _hash(secret), self._monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        generation = self._generation
        who = self._lookup(key)
        if self.cache_seconds > 0 and generation == self._generation:
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            self._cache[key] = (now + self.cache_seconds, who)
        return who

    def _lookup(self, token_hash: str) -> Principal:
        with self.uow() as uow:
            row = uow.session.execute(
                sa.select(t.api_tokens.c.id, t.api_tokens.c.org_id, t.api_tokens.c.role, t.api_tokens.c.staff_id,
                          t.api_tokens.c.revoked_at, t.api_tokens.c.label, t.organisations.c.code,
                          t.staff.c.full_name, t.staff.c.active)
                .join(t.organisations, t.organisations.c.id == t.api_tokens.c.org_id)
                .outerjoin(t.staff, t.staff.c.id == t.api_tokens.c.staff_id)
                .where(t.api_tokens.c.token_hash == token_hash)).one_or_none()
        if row is None or row.revoked_at is not None:
            raise Forbidden("The API token is unknown or revoked; create one with 'hotline token create'.")
        if row.staff_id is not None and not row.active:
            raise Forbidden("The staff member of this token is disabled.")
        name = row.full_name or row.label or f"token {row.id}"
        return Principal(row.org_id, row.code, row.role, row.staff_id, row.id, name)
