"""Serializer building blocks shared by every app's API."""

from rest_framework import serializers
from rest_framework.fields import empty


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know: a typo such as `num_beam` is a 400, not silently ignored.
    In JSON, a text field given a number or a boolean is a 400 too (not turned into text), and so
    is a number field given true or false (not read as 1 or 0); with
    `reject_blank` (query strings, API forms), `field=` is a 400 instead of meaning "not given"
    (unless the field allows blanks). In a form or query string, a field that takes one value
    given more than once (`-F num_beams=3 -F num_beams=4`, two `file` parts) is a 400 naming it,
    not "the last one wins"; list fields (`files`) take repeats. The schema
    says so: `additionalProperties: false` (core.schema.AutoSchema)."""

    reject_blank = False

    def to_internal_value(self, data):
        unknown = sorted(set(getattr(data, "keys", lambda: [])()) - set(self.fields))
        errors = {}
        is_form = hasattr(data, "getlist")
        for name, field in self.fields.items():
            if field.read_only or name not in getattr(data, "keys", lambda: [])():
                continue
            value = data.get(name)
            count = len(data.getlist(name)) if is_form else 1
            if count > 1 and not takes_many(field):
                what = "file" if isinstance(field, serializers.FileField) else "value"
                errors[name] = [f"Given {count} times; send one {what}."]
            elif is_form and self.reject_blank and value == "" and not getattr(field, "allow_blank", False):
                errors[name] = ["Give a value, or leave the parameter out."]
            elif (not is_form and isinstance(field, serializers.CharField) and value is not None
                  and not isinstance(value, str)):
                errors[name] = ["Must be a string."]
            elif (not is_form and isinstance(value, bool) and isinstance(
                    field, (serializers.IntegerField, serializers.FloatField, serializers.DecimalField))):
                errors[name] = ["Must be a number, not true or false."]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            errors = {**error.detail, **errors} if isinstance(error.detail, dict) else {**errors, "non_field_errors": error.detail}
        for name in unknown:
            errors[name] = ["Unknown field."]
        if errors:
            raise serializers.ValidationError(errors)
        return value


def takes_many(field: serializers.Field) -> bool:
    """Whether a form or query string may repeat the field (its value is a list)."""
    return isinstance(field, (serializers.ListField, serializers.MultipleChoiceField, serializers.ManyRelatedField))


class OptionalBooleanField(serializers.BooleanField):
    """true or false (JSON booleans, or those words in a form or query string): what the schema
    says; "1", "yes" or "on" are a 400 rather than a guess. A form field left out means "the
    default", not False."""

    default_empty_html = empty
    TRUE_VALUES = {True, "true"}
    FALSE_VALUES = {False, "false"}
    NULL_VALUES = set()

    def to_internal_value(self, data):
        # 1 == True and 0 == False in Python's sets: a JSON number is refused, not read as a boolean.
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            self.fail("invalid", input=data)
        return super().to_internal_value(data)


class UUIDStringField(serializers.UUIDField):
    """A UUID given as text. DRF's UUIDField also takes an integer (and so a JSON true/false or
    number) as UUID(int=...); an id in JSON is a string, anything else a 400."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)
