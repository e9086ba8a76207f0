"""Registry endpoints (filled in by the registry work)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("registry", __name__)
