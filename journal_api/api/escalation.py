"""Escalation endpoints (issue 3, wave 2)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("escalation", __name__)
