"""Import endpoints: upload a CSV or XLSX table of buildings or staff. Every row is checked first; one bad row
means nothing is written and the answer (422) lists every error in error.details.rows."""
from __future__ import annotations

import pydantic
from flask import Blueprint, request

from .core import ADMIN_ROLES, ApiError, endpoint, principal, services

bp = Blueprint("imports", __name__)
TAG = "imports"


class RowErrorOut(pydantic.BaseModel):
    row: int
    column: str | None
    message: str


class ImportResultOut(pydantic.BaseModel):
    kind: str
    filename: str
    dry_run: bool
    written: bool
    rows: int
    created: int
    updated: int
    unchanged: int
    ignored_columns: list[str]
    errors: list[RowErrorOut]


def _upload_schema(columns: str) -> dict:
    return {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": f"CSV (';' or ',', UTF-8 or Windows-1251) or XLSX with a header row: {columns}"},
        "dry_run": {"type": "boolean", "default": False,
                    "description": "Check every row and count what would change, but write nothing"}}}


BUILDINGS_UPLOAD = _upload_schema("building_id (Код дома), city (Город), street (Улица), house (Дом), korpus "
                                  "(Корпус), entrances (Подъездов), floors (Этажей), apartments (Квартир), "
                                  "optional complex (ЖК)")
STAFF_UPLOAD = _upload_schema("full_name (ФИО), role (Должность), phone (Телефон), optional sip_account, email, "
                              "external_id (Табельный номер)")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


def _import(kind: str) -> dict:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiError(422, "validation_error", "Send the table as multipart/form-data field 'file'.", "file")
    dry_run = request.form.get("dry_run", "").strip().lower()
    if dry_run not in _TRUE + _FALSE:
        raise ApiError(422, "validation_error", f"dry_run must be true or false, got '{dry_run}'.", "dry_run")
    limit = services().settings.max_upload_bytes
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, "payload_too_large", f"The file is larger than {limit} bytes; split it.", "file")
    who = principal()
    result = services().imports.import_file(kind, who.org_id, who.actor, upload.filename, data,
                                            dry_run=dry_run in _TRUE)
    if result.errors:
        raise ApiError(422, "import_rejected", f"Nothing was imported: {len(result.errors)} error(s) in "
                       f"'{upload.filename}'. Fix the rows listed in details.rows and upload the file again.",
                       "file", {"rows": [e.as_dict() for e in result.errors]})
    return result.as_dict()


@endpoint(bp, "POST", "/buildings/import", summary="Import buildings from CSV or XLSX (all rows or none)",
          roles=ADMIN_ROLES, multipart=BUILDINGS_UPLOAD, out=ImportResultOut, tag=TAG)
def import_buildings():
    return _import("buildings")


@endpoint(bp, "POST", "/staff/import", summary="Import staff from CSV or XLSX (all rows or none)",
          roles=ADMIN_ROLES, multipart=STAFF_UPLOAD, out=ImportResultOut, tag=TAG)
def import_staff():
    return _import("staff")
