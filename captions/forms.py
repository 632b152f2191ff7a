import functools

from django import forms
from django.conf import settings
from django.core.validators import MinValueValidator

from mlcore.params import PARAM_RANGES


class _AboveValidator(MinValueValidator):
    """value > limit (an exclusive lower bound of PARAM_RANGES)."""

    message = "Ensure this value is greater than %(limit_value)s."
    code = "min_value"

    def compare(self, a, b):
        return a <= b


def generation_param_field(
    name: str, *, label: str, required: bool = False, help_text: str = "", **kwargs
) -> forms.Field:
    """A form field for the generation parameter `name`, its type, range and default taken from
    mlcore.params.PARAM_RANGES (the one definition the API and mlcore validate with too).

    ``help_text`` may name ``{low}``, ``{high}`` and ``{default}``; the default is also the
    field's placeholder."""
    spec = PARAM_RANGES[name]
    kind, low, high, low_inclusive = spec
    field_class = forms.IntegerField if kind is int else forms.FloatField
    bounds = {"max_value": high}
    if low is not None and low_inclusive:
        bounds["min_value"] = low
    if help_text:
        kwargs["help_text"] = help_text.format(low=low, high=high, default=spec.default)
    field = field_class(label=label, required=required, **bounds, **kwargs)
    field.widget.attrs.setdefault("placeholder", str(spec.default))
    if low is not None and not low_inclusive:
        field.validators.append(_AboveValidator(low))
        field.widget.attrs["min"] = low
    return field



class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*", "multiple": True}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        # Files are checked one by one in captions.services.image_submit, which names each
        # refused file; here only the presence of at least one file is a form matter.
        if isinstance(data, (list, tuple)):
            return list(data)
        return [data] if data else []


class UploadForm(forms.Form):
    images = MultipleFileField(
        label="Images",
        required=False,
        help_text=(
            f"JPEG, PNG, WebP, GIF, BMP or TIFF; up to {settings.MAX_FILES_PER_UPLOAD} files of "
            f"{settings.MAX_UPLOAD_BYTES // (1024 * 1024)} MiB each."
        ),
    )
    num_beams = generation_param_field(
        "num_beams",
        label="More careful (slower)",
        help_text="How many wordings the model weighs at once, {low} to {high}. Higher is more careful and "
        "slower. Default: {default}.",
    )
    max_length = generation_param_field(
        "max_length",
        label="Longest caption",
        help_text="The most word pieces (tokens, about ¾ of a word each) a caption may have, {low} to {high}. "
        "Default: {default}.",
    )
    # issue 12: which model, style and language (checked against the model by the service).
    model = forms.CharField(
        label="Model",
        required=False,
        max_length=500,
        help_text="Empty: the site's model. A name from the list, or ensemble:<a>,<b> of them.",
        widget=forms.TextInput(attrs={"list": "caption-model-choices", "autocomplete": "off"}),
    )
    style = forms.ChoiceField(
        label="Style",
        required=False,
        choices=(),
        help_text="alt: one sentence for screen readers; description: a detailed paragraph; tags: keywords.",
    )
    language = forms.CharField(
        label="Language",
        required=False,
        max_length=35,
        help_text="BCP 47, e.g. en, fr, pt-BR; empty: your default.",
        widget=forms.TextInput(attrs={"size": 6, "autocomplete": "off"}),
    )

    def __init__(self, *args, **kwargs):
        from captions.selectors import caption_model_choices
        from captions.services.styles import style_choices

        super().__init__(*args, **kwargs)
        self.fields["style"].choices = [("", "alt (default)")] + [(n, n) for n in style_choices()]
        self._model_choices = caption_model_choices
        for name in ("style", "language", "model"):
            # static/js/upload.js sends the fields marked data-upload-param with every part. The ids
            # are the upload form's own: the gallery's search form beside it has a `model` field too.
            self.fields[name].widget.attrs.update(
                {"id": f"upload-{name}", "data-upload-param": "", "aria-describedby": f"upload-{name}-hint"}
            )

    @functools.cached_property
    def model_choices(self) -> list[str]:
        """The models offered in the page's list (read when the page is rendered)."""
        return self._model_choices()

    @property
    def request_fields(self) -> list:
        """The bound style, language and model fields, in the order the page shows them."""
        return [self["style"], self["language"], self["model"]]

    def clean_model(self) -> str:
        from django.core.exceptions import ValidationError

        from captions.services.styles import model_spec_clean

        try:
            return model_spec_clean(self.cleaned_data.get("model"))
        except ValidationError as error:
            raise ValidationError(error.message_dict["model"]) from None

    def generation_params(self) -> dict:
        names = ("num_beams", "max_length", "style", "language")
        return {k: v for k in names if (v := self.cleaned_data.get(k)) not in (None, "")}

    def model_spec(self) -> str:
        return self.cleaned_data.get("model") or ""


class ImageSearchForm(forms.Form):
    """The gallery's search (a GET form: the URL holds the whole search, to bookmark or share).
    Every field is optional; `filters()` gives captions.selectors.ImageFilters."""

    q = forms.CharField(required=False, max_length=200, label="Find",
                        help_text="Words in a caption, a correction or a file name.")
    status = forms.ChoiceField(required=False, label="Status", choices=[("", "Any status")])
    review = forms.ChoiceField(required=False, label="Review", choices=[
        ("", "Any"), ("yes", "Needs review"), ("no", "Does not need review")])
    batch = forms.TypedChoiceField(required=False, label="Upload", coerce=int, empty_value=None, choices=[("", "Any upload")])
    model = forms.ChoiceField(required=False, label="Model", choices=[("", "Any model")])
    rating = forms.TypedChoiceField(required=False, label="Your rating", coerce=int, empty_value=None,
                                    choices=[("", "Any")] + [(str(n), f"{n} star{'s' if n > 1 else ''}") for n in range(1, 6)])
    start = forms.DateField(required=False, label="Uploaded from", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label="Uploaded until", widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(required=False, label="Sort")

    def __init__(self, data=None, *, batches=(), models=(), orderings=None, statuses=()):
        super().__init__(data)
        self.fields["status"].choices = [("", "Any status"), *statuses]
        self.fields["batch"].choices = [("", "Any upload"), *((str(b.pk), str(b)) for b in batches)]
        self.fields["model"].choices = [("", "Any model"), *((m, m) for m in models)]
        self.fields["sort"].choices = [("", "Best match (newest without words)"), *(orderings or {}).items()]

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", "The end date is before the start date.")
        return data

    def full_clean(self):
        super().full_clean()
        for name in self.errors:  # screen readers hear which field is wrong, and why
            if name in self.fields:
                self.fields[name].widget.attrs.update({"aria-invalid": "true", "aria-describedby": f"id_{name}-error"})

    def is_search(self) -> bool:
        """True when any field narrows the images (the page then says how many match)."""
        return any(self.cleaned_data.get(name) not in (None, "") for name in self.fields if name != "sort")

    def filters(self):
        from datetime import datetime, time, timedelta

        from django.utils import timezone

        from captions.selectors import ImageFilters

        data = self.cleaned_data
        zone = timezone.get_current_timezone()
        start, end = data.get("start"), data.get("end")
        return ImageFilters(
            status=data.get("status") or None,
            needs_review={"yes": True, "no": False}.get(data.get("review") or ""),
            batch_id=data.get("batch"),
            model_id=data.get("model") or None,
            rating=data.get("rating"),
            created_after=datetime.combine(start, time.min, zone) if start else None,
            created_before=datetime.combine(end + timedelta(days=1), time.min, zone) if end else None,
        )


class BulkRecaptionForm(forms.Form):
    """Re-caption many images: another model and/or other generation settings."""

    model_spec = forms.ChoiceField(label="Model", choices=())
    num_beams = generation_param_field(
        "num_beams", label="More careful (slower)",
        help_text="How many wordings the model weighs at once, {low} to {high} (default {default}).",
    )
    max_length = generation_param_field(
        "max_length", label="Longest caption",
        help_text="The most word pieces a caption may have, {low} to {high} (default {default}).",
    )

    def __init__(self, *args, model_choices: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model_spec"].choices = [(m, m) for m in model_choices]
        for name, field in self.fields.items():
            if field.help_text and isinstance(self.auto_id, str):
                field.widget.attrs["aria-describedby"] = (self.auto_id % name) + "-hint"

    def generation_params(self) -> dict:
        return {k: self.cleaned_data[k] for k in ("num_beams", "max_length") if self.cleaned_data.get(k) is not None}
