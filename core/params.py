"""Integer parameters from URLs and query strings, range-checked before they reach a query.

A database integer column holds at most 2**63 - 1 (SQLite INTEGER, PostgreSQL bigint); a larger
Python int makes the SQLite driver raise OverflowError (a 500) and PostgreSQL a DataError. Every
integer a client can type (query parameters, path segments, form/JSON fields that become a
filter or a primary key) goes through :func:`int_param`, the ``id`` path converter, or a DRF
field bounded by :data:`MAX_DB_INT`.

- API views: :func:`int_param` raises :class:`ParamError`, a DRF ``ValidationError`` (HTTP 400,
  JSON ``detail`` naming the parameter).
- Pages: :func:`int_param_or_404` raises ``Http404`` with the same sentence.
- Paths: ``<id:name>`` (registered here) matches 1 to 19 digits and converts only values in
  1..MAX_DB_INT; anything else does not match, so the URL answers 404.
"""

from django.http import Http404
from django.urls import register_converter
from rest_framework.exceptions import ValidationError

MAX_DB_INT = 2**63 - 1  # signed 64-bit: SQLite INTEGER, PostgreSQL bigint

__all__ = ["MAX_DB_INT", "ParamError", "IdConverter", "int_param", "int_param_or_404", "int_params_or_404"]


class ParamError(ValidationError):
    """An integer parameter that is missing a number or out of range. A DRF ValidationError, so an
    API view answers 400 with ``{"detail": ..., "errors": {name: [message]}}``; ``.message`` is the
    sentence alone."""

    def __init__(self, name: str, message: str):
        self.name = name
        self.message = message
        super().__init__({name: [message]})


def int_param(
    raw,
    *,
    name: str,
    minimum: int = 1,
    maximum: int = MAX_DB_INT,
    default: int | None = None,
) -> int | None:
    """``raw`` (a str from a query string or path, an int, or None) as an int in
    [minimum, maximum]. Empty or None gives ``default``. Surrounding spaces are allowed; signs,
    decimals, exponents and other characters are not. Raises :class:`ParamError` otherwise."""
    if raw is None:
        return default
    if isinstance(raw, bool):
        raise ParamError(name, f"{name} must be a whole number.")
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw).strip()
        if not text:
            return default
        body = text[1:] if text[0] in "+-" else text
        if not (body.isascii() and body.isdigit()) or len(body) > 30:
            raise ParamError(name, f"{name} must be a whole number between {minimum} and {maximum}.")
        value = int(text)
    if value < minimum or value > maximum:
        raise ParamError(name, f"{name} must be between {minimum} and {maximum}.")
    return value


def int_param_or_404(raw, *, name: str, **kwargs) -> int | None:
    """:func:`int_param` for pages: a bad value is a page that does not exist (404)."""
    try:
        return int_param(raw, name=name, **kwargs)
    except ParamError as error:
        raise Http404(error.message) from None


def int_params_or_404(values, *, name: str, **kwargs) -> list[int]:
    """Every value of a repeated query parameter (``?run=1&run=2``) through int_param_or_404;
    empty values are skipped."""
    found = [int_param_or_404(value, name=name, **kwargs) for value in values]
    return [value for value in found if value is not None]


class IdConverter:
    """``<id:pk>``: a positive database id (1..MAX_DB_INT); longer or larger numbers do not match."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_DB_INT:
            raise ValueError(f"{value} is not a database id")  # the URL does not match: 404
        return number

    def to_url(self, value) -> str:
        return str(int(value))


register_converter(IdConverter, "id")
