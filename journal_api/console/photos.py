"""Photos from the technician's page: checked by their content (Pillow must decode them as JPEG, PNG or WebP; the
name and the declared type are ignored), turned upright by their EXIF orientation, scaled down and saved again as
JPEG without the EXIF block (a phone's photo carries the GPS position of the technician). A post may carry several
photos (``MAX_PER_POST``), each within the upload limit, all of them within the request's limit (MAX_CONTENT_LENGTH,
else 413)."""
from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from ..domain.errors import ValidationError
from . import clabel

FORMATS = {"JPEG", "PNG", "WEBP", "MPO"}  # MPO: what some phones' cameras write, a JPEG with extras
MAX_PIXELS = 50_000_000  # past this a "photo" is a decompression bomb
MAX_SIDE = 2560
MAX_PER_POST = 10  # each photo is decoded and saved again: a bound on one post's work


def read(upload, limit: int) -> bytes:
    """An uploaded file read (no further than ``limit`` + 1 bytes) and normalised, or ValidationError: a file cut
    short at the limit is not "unreadable", it is too large."""
    raw = upload.read(limit + 1)
    if len(raw) > limit:
        raise ValidationError(clabel("phone_texts", "photo_too_large").format(mb=f"{limit / 1024 / 1024:g}"),
                              field="photo")
    return normalise(raw)


def normalise(raw: bytes) -> bytes:
    """A clean upright JPEG, or ValidationError with a Russian message."""
    if not raw:
        raise ValidationError(clabel("phone_texts", "photo_empty"), field="photo")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as probe:
                if probe.format not in FORMATS:
                    raise ValidationError(clabel("phone_texts", "photo_not_image"), field="photo")
                if probe.width * probe.height > MAX_PIXELS:
                    raise ValidationError(clabel("phone_texts", "photo_too_many_pixels"), field="photo")
                probe.verify()
            with Image.open(io.BytesIO(raw)) as image:
                image.load()
                upright = ImageOps.exif_transpose(image)
                upright = upright.convert("RGB")
                upright.thumbnail((MAX_SIDE, MAX_SIDE))
                out = io.BytesIO()
                upright.save(out, "JPEG", quality=85, optimize=True)
                return out.getvalue()
    except ValidationError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError,
            SyntaxError, ValueError):
        raise ValidationError(clabel("phone_texts", "photo_unreadable"), field="photo") from None
