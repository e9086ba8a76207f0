"""IVR flows as data: ``load_flow`` reads and validates a YAML flow; ``step`` is the pure interpreter a telephony
worker drives (actions out, events in). See docs/ivr.md."""
from __future__ import annotations

from .flow import Flow, FlowError, build_flow, load_flow
from .interpreter import State, step

__all__ = ["Flow", "FlowError", "State", "build_flow", "load_flow", "step"]
