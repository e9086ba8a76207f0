"""telephony: see ../shared/design/ARCHITECTURE.md. Built by later issues."""
