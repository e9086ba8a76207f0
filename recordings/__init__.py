"""Storage of call audio and other attachments: content-addressed blobs with checksums."""
