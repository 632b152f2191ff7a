"""CSV for people who open it in a spreadsheet: the one writer every CSV download uses (alt-text
exports, the feedback data set, admin actions), so formula escaping and the byte-order mark are
decided in one place."""

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

# Spreadsheets run a cell that starts like a formula; file names and captions are user text
# (OWASP, "CSV Injection": such a cell is prefixed with a single quote, which the spreadsheet hides).
# Full-width forms too (some spreadsheets normalise them), and a formula behind leading white space.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")

# Excel on Windows reads a CSV without a byte-order mark in the system's code page and garbles
# every non-ASCII letter; with it, UTF-8. Other readers (Python, pandas, LibreOffice) accept both.
UTF8_BOM = "\ufeff"


def safe_cell(value) -> str:
    """One cell's text: None -> "", a list -> its items joined with "; ", and text that a
    spreadsheet would run as a formula prefixed with a single quote. Numbers stay numbers (a
    negative number is a number, not a formula)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        value = "; ".join(str(item) for item in value)
    text = str(value)
    if text.startswith(_FORMULA_START) or text.lstrip(" \t\r\n").startswith(_FORMULA_START[:4]):
        return "'" + text
    return text


def csv_text(fieldnames: Sequence[str], rows: Iterable[Mapping], *, bom: bool = False) -> str:
    """The rows as CSV text: a header row of fieldnames, then one line per row, every cell through
    safe_cell; with bom=True a UTF-8 byte-order mark first (for Excel)."""
    buffer = io.StringIO()
    if bom:
        buffer.write(UTF8_BOM)
    writer = csv.writer(buffer)
    writer.writerow(fieldnames)
    for row in rows:
        writer.writerow([safe_cell(row.get(name)) for name in fieldnames])
    return buffer.getvalue()


class DictWriter(csv.DictWriter):
    """csv.DictWriter whose every cell (the header row too) goes through safe_cell."""

    def writerow(self, rowdict):
        return super().writerow({key: safe_cell(value) for key, value in rowdict.items()})

    def writerows(self, rowdicts):
        for row in rowdicts:
            self.writerow(row)


class Writer:
    """csv.writer whose every cell goes through safe_cell."""

    def __init__(self, stream, **options):
        self._writer = csv.writer(stream, **options)

    def writerow(self, row):
        return self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def unescape_cell(text: str) -> str:
    """A cell read back from a CSV that safe_cell wrote: the text without the quote safe_cell
    put in front of a formula-like start (for a program that reads the file back, e.g. to resume)."""
    if isinstance(text, str) and text.startswith("'") and text[1:].startswith(_FORMULA_START):
        return text[1:]
    return text
