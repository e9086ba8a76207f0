"""The OpenAPI 3.1 document, built from the routes that :func:`endpoint` recorded and their pydantic schemas."""
from __future__ import annotations

import re

import pydantic

from .core import ROUTES

ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"},
        "details": {"type": "object"}}}},
}


def _schema_ref(model, components: dict) -> dict:
    adapter = pydantic.TypeAdapter(model)
    schema = adapter.json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    if "title" in schema and schema.get("type") == "object":
        components[schema["title"]] = schema
        return {"$ref": f"#/components/schemas/{schema['title']}"}
    return schema


def build_openapi() -> dict:
    components: dict = {"Error": ERROR_SCHEMA}
    paths: dict = {}
    for r in ROUTES:
        op: dict = {"summary": r.summary, "operationId": f"{r.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', r.path.lower()).strip('_')}",
                    "security": [{"bearer": []}], "x-roles": list(r.roles), "tags": r.tags,
                    "responses": {"4XX": {"description": "An error", "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}
        params = [{"name": p, "in": "path", "required": True,
                   "schema": {"type": "integer" if re.fullmatch(r"number|\w+_id", p) else "string"}}
                  for p in re.findall(r"{(\w+)}", r.path)]
        if r.query is not None:
            qschema = r.query.model_json_schema()
            for name, prop in qschema.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": name in qschema.get("required", []),
                               "schema": prop, **({"style": "form", "explode": False}
                                                  if prop.get("type") == "array" else {})})
        if params:
            op["parameters"] = params
        if r.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": _schema_ref(r.body, components)}}}
        if r.multipart is not None:
            op["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": r.multipart}}}
        if r.raw:
            op["responses"][str(r.status)] = {"description": "The file", "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
        elif r.out is None:
            op["responses"][str(r.status)] = {"description": "Done, no content"}
        else:
            op["responses"][str(r.status)] = {"description": "OK", "content": {"application/json": {
                "schema": _schema_ref(r.out, components)}}}
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "hotline journal API", "version": "1",
                 "description": "The electronic journal of an emergency-dispatch service (АДС)."},
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {"schemas": components,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


