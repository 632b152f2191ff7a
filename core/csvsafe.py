"""CSV that a spreadsheet opens as data: the one writer for every CSV the site produces.

Spreadsheets run a cell that starts like a formula (`=1+1`, `+`, `-`, `@`, or a tab or carriage
return before one); file names, captions and corrections are user text. Such a cell is written
with a leading single quote (OWASP, "CSV Injection"), which spreadsheets show as plain text.
"""

import csv

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def cell(value) -> str:
    """`value` as a CSV cell: None -> "", a cell that would start a formula -> "'" + text."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) or text.lstrip(" \t\r\n").startswith(_FORMULA_START[:4]):
        return "'" + text
    return text


class DictWriter(csv.DictWriter):
    """csv.DictWriter whose every cell goes through `cell` (the header row too)."""

    def writerow(self, rowdict):
        return super().writerow({key: cell(value) for key, value in rowdict.items()})

    def writerows(self, rowdicts):
        for row in rowdicts:
            self.writerow(row)


class Writer:
    """csv.writer whose every cell goes through `cell`."""

    def __init__(self, stream, **options):
        self._writer = csv.writer(stream, **options)

    def writerow(self, row):
        return self._writer.writerow([cell(value) for value in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)
