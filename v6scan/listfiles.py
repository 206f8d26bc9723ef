"""Target list files as they come: CSV or text in UTF-8, UTF-16 or GB18030, and Excel workbooks.

:func:`list_lines` gives the lines of a list file as text, one per row, numbered as the file is
(row N of a worksheet is line N), lazily: a million-row list is never held in memory.

- Text files: a UTF-8, UTF-16 (Excel's "Unicode text") or UTF-8-with-BOM byte order mark decides;
  without one, UTF-8 when the first 64 KiB are UTF-8, else GB18030 (the superset of GBK and GB2312
  that Chinese Excel writes CSV in).  Undecodable bytes become U+FFFD; the name check then says
  which line is bad.
- Workbooks (``.xlsx``, or a file that starts like one): the first worksheet with a row naming a
  host column (:func:`v6scan.listvocab.header_roles`) in its first 20 rows, else the first
  worksheet; each row becomes a CSV line (tabs and line breaks in cells become spaces).
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

from v6scan.errors import V6scanError
from v6scan.listvocab import header_roles

__all__ = ["ListFileError", "is_workbook", "list_lines", "sniff_encoding"]

SNIFF = 64 * 1024
HEADER_ROWS = 20  # rows of a worksheet searched for its header
_ZIP = b"PK\x03\x04"


class ListFileError(V6scanError):
    """A list file that cannot be read at all (not a workbook it claims to be, no worksheet)."""


def sniff_encoding(head: bytes) -> str:
    """The encoding of a text list from its first bytes."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 3:  # not a character cut at the end of the sample
            return "gb18030"
    return "utf-8"


def is_workbook(path: Path) -> bool:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return True
    with path.open("rb") as f:
        return f.read(4) == _ZIP


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split()) if isinstance(value, str) else str(value)


def _workbook_lines(path: Path) -> Iterator[str]:
    import openpyxl  # type: ignore[import-untyped]  # imported only when a workbook is read
    from openpyxl.utils.exceptions import InvalidFileException  # type: ignore[import-untyped]

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as e:
        raise ListFileError(f"{path}: not a readable Excel workbook ({e.__class__.__name__}: {e})") from None
    try:
        sheets = wb.worksheets
        if not sheets:
            raise ListFileError(f"{path}: the workbook has no worksheet")
        chosen = sheets[0]
        for ws in sheets:
            rows = ws.iter_rows(max_row=HEADER_ROWS, values_only=True)
            if any(header_roles([_cell(v) for v in row]) is not None for row in rows):
                chosen = ws
                break
        for row in chosen.iter_rows(min_row=1, values_only=True):
            cells = [_cell(v) for v in row]
            if not any(cells):
                yield ""  # an empty row: a blank line, numbered
                continue
            out = io.StringIO()
            csv.writer(out, lineterminator="").writerow(cells)
            yield out.getvalue()
    finally:
        wb.close()


def _text_lines(path: Path) -> Iterator[str]:
    with path.open("rb") as f:
        encoding = sniff_encoding(f.read(SNIFF))
    with path.open(encoding=encoding, errors="replace", newline="") as f:
        yield from f


def list_lines(path: Path) -> Iterator[str]:
    """The lines of the list file ``path`` (a workbook's rows as CSV lines), lazily."""
    return _workbook_lines(path) if is_workbook(path) else _text_lines(path)
