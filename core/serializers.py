"""Serializer building blocks shared by every app's API."""

from rest_framework import serializers
from rest_framework.fields import empty


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know: a typo such as `num_beam` is a 400, not silently ignored."""

    def to_internal_value(self, data):
        unknown = sorted(set(getattr(data, "keys", lambda: [])()) - set(self.fields))
        errors = {}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            errors.update(error.detail)
        for name in unknown:
            errors[name] = ["Unknown field."]
        if errors:
            raise serializers.ValidationError(errors)
        return value


class OptionalBooleanField(serializers.BooleanField):
    # A form field left out means "the default", not False.
    default_empty_html = empty
