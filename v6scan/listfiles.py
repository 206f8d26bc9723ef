"""Target list files as they come: CSV or text in UTF-8, UTF-16 or GB18030, and Excel workbooks.

:func:`list_lines` gives the lines of a list file as text, one per row, numbered as the file is
(row N of a worksheet is line N), lazily: a million-row list is never held in memory.

- Text files: a UTF-8, UTF-16 (Excel's "Unicode text") or UTF-8-with-BOM byte order mark decides;
  without one, UTF-8 when the first 64 KiB are UTF-8, else GB18030 (the superset of GBK and GB2312
  that Chinese Excel writes CSV in).  Undecodable bytes become U+FFFD; the name check then says
  which line is bad.
- Workbooks (``.xlsx`` and the older ``.xls``, or a file that starts like one): the first worksheet
  with a row naming a host column (:func:`v6scan.listvocab.header_roles`) in its first 20 rows,
  else the first worksheet; each row becomes a CSV line (tabs and line breaks in cells become
  spaces).
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from v6scan.errors import V6scanError
from v6scan.listvocab import header_roles

__all__ = ["ListFileError", "list_lines", "sniff_encoding", "workbook_kind"]

SNIFF = 64 * 1024
HEADER_ROWS = 20  # rows of a worksheet searched for its header
_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the compound file an .xls workbook is


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


def workbook_kind(path: Path) -> str | None:
    """``xlsx`` or ``xls`` for a workbook (by its first bytes, else its name), None for text."""
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith(_ZIP):
        return "xlsx"
    if head == _OLE:
        return "xls"
    return {".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls"}.get(path.suffix.lower())


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split()) if isinstance(value, str) else str(value)


def _unreadable(path: Path, e: BaseException) -> ListFileError:
    return ListFileError(f"{path}: not a readable Excel workbook ({e.__class__.__name__}: {e})")


def _sheet_lines(sheets: Sequence[Callable[[int | None], Iterator[Sequence[object]]]], path: Path
                 ) -> Iterator[str]:
    """The lines of the first sheet with a header row (each sheet given as ``rows(max_row)``)."""
    if not sheets:
        raise ListFileError(f"{path}: the workbook has no worksheet")
    chosen = next((rows for rows in sheets
                   if any(header_roles([_cell(v) for v in row]) is not None for row in rows(HEADER_ROWS))),
                  sheets[0])
    for row in chosen(None):
        cells = [_cell(v) for v in row]
        if not any(cells):
            yield ""  # an empty row: a blank line, numbered
            continue
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(cells)
        yield out.getvalue()


def _xlsx_lines(path: Path) -> Iterator[str]:
    import openpyxl  # type: ignore[import-untyped]  # imported only when a workbook is read
    from openpyxl.utils.exceptions import InvalidFileException  # type: ignore[import-untyped]

    with path.open("rb") as f:  # a file object: openpyxl would refuse a workbook not named .xlsx
        try:
            wb = openpyxl.load_workbook(f, read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as e:
            raise _unreadable(path, e) from None
        try:
            yield from _sheet_lines([functools.partial(_xlsx_rows, ws) for ws in wb.worksheets], path)
        finally:
            wb.close()


def _xlsx_rows(ws: object, n: int | None) -> Iterator[Sequence[object]]:
    return ws.iter_rows(min_row=1, max_row=n, values_only=True)  # type: ignore[attr-defined,no-any-return]


def _xls_lines(path: Path) -> Iterator[str]:
    import xlrd  # type: ignore[import-untyped]  # the older .xls format

    try:
        wb = xlrd.open_workbook(str(path), on_demand=True)
    except (xlrd.XLRDError, OSError, ValueError, AssertionError, IndexError, KeyError) as e:
        raise _unreadable(path, e) from None

    def rows(index: int, n: int | None) -> Iterator[Sequence[object]]:
        sheet = wb.sheet_by_index(index)
        for i in range(sheet.nrows if n is None else min(n, sheet.nrows)):
            yield sheet.row_values(i)

    try:
        yield from _sheet_lines([functools.partial(rows, i) for i in range(wb.nsheets)], path)
    finally:
        wb.release_resources()


def _text_lines(path: Path) -> Iterator[str]:
    with path.open("rb") as f:
        encoding = sniff_encoding(f.read(SNIFF))
    with path.open(encoding=encoding, errors="replace", newline="") as f:
        yield from f


def list_lines(path: Path) -> Iterator[str]:
    """The lines of the list file ``path`` (a workbook's rows as CSV lines), lazily."""
    kind = workbook_kind(path)
    return _xlsx_lines(path) if kind == "xlsx" else _xls_lines(path) if kind == "xls" else _text_lines(path)
