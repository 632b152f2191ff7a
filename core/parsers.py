"""The API's JSON parser: DRF's, except that an object naming a key twice is a 400 naming the key
(plain json.loads keeps the last value silently, as a form would: `{"name": "a", "name": "b"}`),
and a body nested deeper than MAX_JSON_DEPTH is a 400 (Python's decoder would otherwise recurse
until a RecursionError: a 500 on any endpoint, the unauthenticated token endpoint included)."""

import codecs
import json

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json as drf_json


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            count = sum(1 for k, _ in pairs if k == key)
            raise ValidationError({key: [f"Given {count} times; send one value."]})
        seen[key] = value
    return seen


# No request of this API nests deeper than a few levels; 32 leaves room for any real client.
MAX_JSON_DEPTH = 32


def _depth_check(value, limit: int = MAX_JSON_DEPTH) -> None:
    """ParseError when `value` nests lists/objects deeper than `limit` (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise ParseError(f"JSON parse error - nested deeper than {limit} levels.")
        stack.extend((child, depth + 1) for child in children)


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})  # DRF's: refuses bytes-to-bytes codecs
        try:
            decoded_stream = codecs.getreader(encoding)(stream)
            parse_constant = drf_json.strict_constant if self.strict else None
            data = json.load(decoded_stream, parse_constant=parse_constant, object_pairs_hook=_unique_keys)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        _depth_check(data)
        return data
