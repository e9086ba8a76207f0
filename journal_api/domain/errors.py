"""Domain errors. Each carries a stable machine code; the API maps them to one JSON error shape."""
from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain and the service layer raise on bad input."""

    code = "invalid"
    http_status = 422

    def __init__(self, message: str, *, field: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details or {}


class ValidationError(DomainError):
    code = "validation_error"
    http_status = 422


class InvalidPhone(ValidationError):
    code = "invalid_phone"


class UnknownReference(ValidationError):
    """A referenced object (building, staff, work type) does not exist in the organisation."""

    code = "unknown_reference"


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class IllegalTransition(DomainError):
    code = "illegal_transition"
    http_status = 409


class Conflict(DomainError):
    code = "conflict"
    http_status = 409


class CrossOrganisation(DomainError):
    """A write that would mix the data of two organisations."""

    code = "cross_organisation"
    http_status = 403


class Forbidden(DomainError):
    code = "forbidden"
    http_status = 403
