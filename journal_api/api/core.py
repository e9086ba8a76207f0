"""The API's machinery: one JSON error shape, token auth with roles, schema-checked handlers, OpenAPI.

A handler is ``schema -> service -> dump``; :func:`endpoint` does the parsing, auth and dumping around it and
records the route for the OpenAPI document.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import pydantic
from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from recordings.store import UploadError

from ..domain.errors import DomainError
from ..service.tokens import Principal

MAX_ID = 2 ** 31 - 1  # ids and numbers are 32-bit integers in the database
ALL_ROLES = ("admin", "manager", "dispatcher", "technician")
STAFF_ROLES = ("admin", "manager", "dispatcher")
ADMIN_ROLES = ("admin", "manager")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.details = status, code, message, field, details or {}


def error_response(status: int, code: str, message: str, field: str | None = None, details: dict | None = None):
    body = {"error": {"code": code, "message": message}}
    if field:
        body["error"]["field"] = field
    if details:
        body["error"]["details"] = details
    return jsonify(body), status


def register_error_handlers(app) -> None:
    @app.errorhandler(ApiError)
    def _api(e: ApiError):
        return error_response(e.status, e.code, e.message, e.field, e.details)

    @app.errorhandler(DomainError)
    def _domain(e: DomainError):
        return error_response(e.http_status, e.code, e.message, e.field, e.details)

    @app.errorhandler(UploadError)
    def _upload(e: UploadError):
        return error_response(e.http_status, e.code, e.message, e.field)

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        if not request.path.startswith("/api/"):
            return e
        code = re.sub(r"[^a-z]+", "_", (e.name or "error").lower()).strip("_")
        message = e.description or e.name
        if e.code == 413:
            message = "The upload is larger than the server accepts."
        return error_response(e.code or 500, code, message)


def services():
    return current_app.extensions["hotline"]


def principal() -> Principal:
    return g.principal


def _authenticate(roles: tuple[str, ...]) -> Principal:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not header[7:].strip():
        raise ApiError(401, "unauthorized", "Send an API token: 'Authorization: Bearer <token>' "
                       "(create one with 'hotline token create').")
    who = services().tokens.authenticate(header[7:].strip())
    if who.role not in roles:
        raise ApiError(403, "forbidden", f"The role '{who.role}' cannot do this; it needs one of: "
                       f"{', '.join(roles)}.")
    return who


def _validation_error(exc: pydantic.ValidationError, where: str) -> ApiError:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or where
    problems = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
    return ApiError(422, "validation_error", f"{loc}: {first['msg']}", loc, {"problems": problems})


def _texts(value, path: str = ""):
    """Every string in a JSON value, with its dotted location."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, (dict, list)):
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            yield from _texts(item, f"{path}.{key}" if path else str(key))


def _refuse_nul(texts) -> None:
    """No database column stores a NUL character; refuse it up front instead of failing on write."""
    for where, text in texts:
        if "\x00" in text:
            raise ApiError(422, "validation_error", f"{where}: remove the NUL (\\u0000) character from the text.",
                           where)


def _check_text_input(multipart: bool) -> None:
    _refuse_nul((name, value) for name, values in request.args.lists() for value in values)
    if multipart:
        _refuse_nul(request.form.items(multi=True))
        _refuse_nul((name, upload.filename or "") for name, upload in request.files.items(multi=True))


@dataclass
class Route:
    method: str
    path: str
    summary: str
    roles: tuple[str, ...]
    body: type[pydantic.BaseModel] | None
    query: type[pydantic.BaseModel] | None
    out: Any
    status: int
    multipart: dict | None = None
    raw: bool = False
    tags: list[str] = field(default_factory=list)


ROUTES: list[Route] = []


def _query_dict(model: type[pydantic.BaseModel]) -> dict:
    data = {}
    for name, info in model.model_fields.items():
        values = request.args.getlist(name)
        if not values:
            continue
        origin = getattr(info.annotation, "__origin__", None)
        is_list = origin is list or "list[" in str(info.annotation)
        data[name] = [v for item in values for v in item.split(",") if v] if is_list else values[-1]
    unknown = set(request.args) - set(model.model_fields)
    if unknown:
        raise ApiError(422, "validation_error", f"Unknown query parameters: {', '.join(sorted(unknown))}.",
                       sorted(unknown)[0])
    return data


@functools.lru_cache(maxsize=None)
def _adapter(schema) -> pydantic.TypeAdapter:
    """Built on first use, once per schema: building a TypeAdapter costs more than the validation it does."""
    return pydantic.TypeAdapter(schema)


def endpoint(bp: Blueprint, method: str, path: str, *, summary: str, roles=ALL_ROLES, body=None, query=None,
             out=None, status: int = 200, multipart: dict | None = None, raw: bool = False, tag: str = ""):
    """Register a handler. The handler gets keyword arguments: path parameters, ``body`` and ``query`` models."""
    route = Route(method, path, summary, tuple(roles), body, query, out, status, multipart, raw, [tag] if tag else [])
    ROUTES.append(route)
    flask_path = re.sub(r"{(\w+)}", r"<\1>", path)
    flask_path = re.sub(r"<(number|\w+_id)>", rf"<int(min=1, max={MAX_ID}):\1>", flask_path)

    def decorate(fn: Callable):
        @functools.wraps(fn)
        def view(**kwargs):
            g.principal = _authenticate(route.roles)
            _check_text_input(multipart is not None)
            if body is not None:
                payload = request.get_json(silent=True)
                if not isinstance(payload, dict):
                    raise ApiError(400, "bad_request", "Send a JSON object with 'Content-Type: application/json'.")
                _refuse_nul(_texts(payload))
                try:
                    kwargs["body"] = body.model_validate(payload)
                except pydantic.ValidationError as exc:
                    raise _validation_error(exc, "body") from None
            if query is not None:
                try:
                    kwargs["query"] = query.model_validate(_query_dict(query))
                except pydantic.ValidationError as exc:
                    raise _validation_error(exc, "query") from None
            result = fn(**kwargs)
            if raw or isinstance(result, Response):
                return result
            if result is None:
                return "", 204
            if out is not None:  # pydantic writes the JSON itself (compact, UTF-8, as jsonify would): one pass
                adapter = _adapter(out)
                return Response(adapter.dump_json(adapter.validate_python(result)) + b"\n", status,
                                mimetype="application/json")
            return jsonify(result), status

        bp.add_url_rule(flask_path, endpoint=fn.__name__, view_func=view, methods=[method])
        return view

    return decorate
