"""The service layer: the single, audited write path into the journal."""
