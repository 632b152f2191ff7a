"""The API's JSON parser: DRF's, except that an object naming a key twice is a 400 naming the key
(plain json.loads keeps the last value silently, as a form would: `{"name": "a", "name": "b"}`)."""

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


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})  # DRF's: refuses bytes-to-bytes codecs
        try:
            decoded_stream = codecs.getreader(encoding)(stream)
            parse_constant = drf_json.strict_constant if self.strict else None
            return json.load(decoded_stream, parse_constant=parse_constant, object_pairs_hook=_unique_keys)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
