"""Reading the tables a УК keeps: CSV (UTF-8 with or without BOM, UTF-16, Windows-1251; ';', ',' or tab) and
XLSX (the first sheet). Pure: bytes in, rows of text out."""
from __future__ import annotations

import codecs
import csv
import io
import re
from datetime import date, datetime, time

from ..domain.errors import DomainError, ValidationError

MAX_ROWS = 20_000


class UnsupportedFile(DomainError):
    """The upload is no table: not CSV text, not an XLSX workbook."""

    code = "unsupported_file"
    http_status = 415


_EXCEL_SEPARATOR = re.compile(r"sep=(.)\r?\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NOT_A_TABLE = "Upload the table as CSV (UTF-8 or Windows-1251, separated by ';' or ',') or as an XLSX workbook."


def read_rows(filename: str, data: bytes) -> list[tuple[int, list[str]]]:
    """The file's non-empty rows as (row number, cells as text). Raises UnsupportedFile for what is no table."""
    if not data:
        raise ValidationError(f"'{filename}' is empty. {_NOT_A_TABLE}", field="file")
    if data.startswith(b"PK\x03\x04"):
        rows = _xlsx_rows(filename, data)
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnsupportedFile(f"'{filename}' is an old Excel .xls workbook; save it as .xlsx or CSV and upload "
                              "it again.", field="file")
    else:
        rows = _csv_rows(filename, _decode(filename, data))
    found = []
    for number, cells in rows:
        cells = [_cell_text(c) for c in cells]
        if any(cells):
            found.append((number, cells))
            if len(found) > MAX_ROWS + 1:
                raise ValidationError(f"'{filename}' has more than {MAX_ROWS} rows; split it into smaller files.",
                                      field="file")
    return found


def _decode(filename: str, data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "cp1251")
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if not _CONTROL.search(text):
            return text
    raise UnsupportedFile(f"'{filename}' is neither a text (CSV) file nor an XLSX workbook. {_NOT_A_TABLE}",
                          field="file")


def _csv_rows(filename: str, text: str):
    hint = _EXCEL_SEPARATOR.match(text)  # Excel reads "sep=;" as an instruction and does not show that line
    if hint:
        text, delimiter = text[hint.end():], hint[1]
    else:
        first = next((line for line in text.splitlines() if line.strip()), "")
        delimiter = max(";,\t", key=first.count)
    try:
        return list(enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1))
    except csv.Error as exc:
        raise UnsupportedFile(f"'{filename}' is not a readable CSV file ({exc}). {_NOT_A_TABLE}",
                              field="file") from exc


def _xlsx_rows(filename: str, data: bytes):
    import openpyxl  # imported on use: only XLSX uploads need it

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            return list(enumerate(book.worksheets[0].iter_rows(values_only=True), start=1))
        finally:
            book.close()
    except Exception as exc:  # a damaged or foreign ZIP fails in many ways inside openpyxl
        raise UnsupportedFile(f"'{filename}' is not a readable XLSX workbook ({type(exc).__name__}). "
                              f"{_NOT_A_TABLE}", field="file") from exc


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return str(value).strip()
