"""Content-addressed blob storage for recordings, photos and documents.

A blob's key is derived from its SHA-256, so the same file stored twice takes the space once, and a download can
always be checked against the checksum kept in the journal.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

CHUNK = 64 * 1024


class UploadError(ValueError):
    """A rejected upload. ``code`` says why; the message says what to fix."""

    def __init__(self, code: str, message: str, http_status: int = 422, field: str = "file"):
        super().__init__(message)
        self.code, self.message, self.http_status, self.field = code, message, http_status, field


@dataclass(frozen=True)
class StoredBlob:
    key: str
    sha256: str
    size: int


class BlobStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(ch not in "0123456789abcdef" for ch in key):
            raise KeyError(key)
        return self.root / key[:2] / key[2:4] / key

    def put(self, stream: BinaryIO, *, max_bytes: int, expected_sha256: str | None = None) -> StoredBlob:
        """Stream into a temporary file while hashing; refuse past ``max_bytes`` or a checksum other than
        ``expected_sha256``; publish by atomic rename, so a refused upload leaves no blob."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise UploadError("upload_too_large", f"The file is larger than the limit of {max_bytes} "
                                          "bytes. Compress it or send a shorter recording.", 413)
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if size == 0:
                raise UploadError("empty_upload", "The file is empty.")
            key = digest.hexdigest()
            if expected_sha256 and expected_sha256.strip().lower() != key:
                raise UploadError("checksum_mismatch", f"The upload's checksum is {key}, not {expected_sha256}: "
                                  "the file was damaged on the way. Send it again.", field="sha256")
            final = self._path(key)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
            return StoredBlob(key=key, sha256=key, size=size)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def delete(self, key: str) -> bool:
        """Remove a blob (retention); False when it was already gone. The caller checks nothing else uses it: the
        same content stored twice is one blob."""
        try:
            self._path(key).unlink()
            return True
        except FileNotFoundError:
            return False

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        with self.open(key) as fh:
            while chunk := fh.read(CHUNK):
                yield chunk


# What each kind of attachment may be, and the first bytes that prove it.
ALLOWED_TYPES: dict[str, dict[str, tuple[bytes | tuple, ...]]] = {
    "recording": {"audio/wav": (("RIFF", 8, "WAVE"),), "audio/x-wav": (("RIFF", 8, "WAVE"),),
                  "audio/mpeg": (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"), "audio/ogg": (b"OggS",)},
    "photo": {"image/jpeg": (b"\xff\xd8\xff",), "image/png": (b"\x89PNG\r\n\x1a\n",),
              "image/webp": (("RIFF", 8, "WEBP"),)},
    "document": {"application/pdf": (b"%PDF-",), "image/jpeg": (b"\xff\xd8\xff",), "image/png": (b"\x89PNG",)},
}


def _matches(head: bytes, sig) -> bool:
    if isinstance(sig, tuple):
        first, offset, second = sig
        return head.startswith(first.encode()) and head[offset:offset + len(second)] == second.encode()
    return head.startswith(sig)


def sniff_type(kind: str, content_type: str, stream: BinaryIO) -> None:
    """Refuse a file whose declared type is not allowed for its kind, or whose bytes are not of that type."""
    allowed = ALLOWED_TYPES.get(kind)
    if allowed is None:
        raise UploadError("invalid_kind", f"Unknown attachment kind '{kind}'. Use one of: "
                          f"{', '.join(ALLOWED_TYPES)}.")
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared not in allowed:
        raise UploadError("unsupported_type", f"A {kind} must be one of {', '.join(allowed)}; got "
                          f"'{declared or 'no type'}'.", 415)
    pos = stream.tell()
    head = stream.read(16)
    stream.seek(pos)
    if not head:
        raise UploadError("empty_upload", "The file is empty.")
    if not any(_matches(head, sig) for sig in allowed[declared]):
        raise UploadError("type_mismatch", f"The file says it is {declared}, but its contents are not. "
                          "Send the original file.", 415)
