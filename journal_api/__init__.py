"""The request journal: domain, service layer, storage, API and CLI."""
