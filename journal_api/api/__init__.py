"""The JSON API under /api/v1."""
from __future__ import annotations

from flask import Blueprint, jsonify

from . import calls as call_routes
from . import escalation as escalation_routes
from . import imports as import_routes
from . import incidents as incident_routes
from . import registry as registry_routes
from . import requests as request_routes
from . import rules as rules_routes
from . import schedules as schedule_routes
from .openapi import build_openapi


def create_blueprint() -> Blueprint:
    api = Blueprint("api", __name__, url_prefix="/api/v1")
    api.register_blueprint(request_routes.bp)
    api.register_blueprint(registry_routes.bp)
    api.register_blueprint(import_routes.bp)
    api.register_blueprint(rules_routes.bp)
    api.register_blueprint(schedule_routes.bp)
    api.register_blueprint(escalation_routes.bp)
    api.register_blueprint(call_routes.bp)
    api.register_blueprint(incident_routes.bp)

    @api.get("/openapi.json")
    def openapi():
        return jsonify(build_openapi())

    @api.get("/health")
    def health():
        return jsonify({"status": "ok"})

    return api
