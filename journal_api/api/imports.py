"""Imports endpoints (filled in by the imports work)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("imports", __name__)
