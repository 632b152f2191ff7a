import functools

from django import forms
from django.conf import settings
from django.core.validators import MinValueValidator

from captions.models import MODEL_SPEC_MAX_LENGTH
from mlcore.images import accepted_formats_text
from mlcore.params import PARAM_RANGES
from mlcore.styles import get_style

# The longer styles' own token budgets (mlcore.styles: a floor on max_length for those styles).
_STYLE_BUDGETS = "The description and tags styles always allow at least {} and {}.".format(
    get_style("description").token_budget, get_style("tags").token_budget)


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
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*,.zip,application/zip", "multiple": True}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        # Files are checked one by one in captions.services.image_submit, which names each
        # refused file; here only the presence of at least one file is a form matter.
        if isinstance(data, (list, tuple)):
            return list(data)
        return [data] if data else []


STYLE_HELP = "alt: one sentence for screen readers; description: a detailed paragraph; tags: keywords."
#: the upload form's fields that say what to caption with (each shown with its hint and errors)
REQUEST_FIELDS = ("style", "language", "model", "purpose", "context", "action", "ocr")
ALT_FIELDS = ("purpose", "context", "action", "ocr")


def purpose_field(*, blank_label: str = "") -> forms.ChoiceField:
    from mlcore.alttext import PURPOSES

    choices = ([("", blank_label)] if blank_label else []) + list(PURPOSES.items())
    return forms.ChoiceField(
        label="Purpose", required=False, choices=choices,
        help_text="What the image is for on its page (the W3C alt decision tree): decorative images get "
        "an empty alt text and no model call.",
    )


def context_field(*, help_text: str = "") -> forms.CharField:
    from mlcore.alttext import MAX_CONTEXT_CHARS

    return forms.CharField(
        label="Context", required=False, max_length=MAX_CONTEXT_CHARS, strip=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
        help_text=help_text or "Where the image appears: page title, the paragraph around it, product name, "
        "keywords. Models that take a prompt use it; others caption as usual.",
    )


def action_field() -> forms.CharField:
    from mlcore.alttext import MAX_ACTION_CHARS

    return forms.CharField(
        label="Link target or action", required=False, max_length=MAX_ACTION_CHARS,
        help_text="For a functional image (a link or button): what it does or where it leads.",
    )


def _listed(names, last_word: str = "and") -> str:
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last_word} {names[-1]}"


def model_ability_text(ability, *, owner_words: str, suggestion: str = "") -> str:
    """In words, what a model can write: "The site's model, blip-base, writes alt text in English
    only; choose a vision-language model such as smolvlm-256m for description, tags or other
    languages." `ability`: a captions.selectors.ModelAbility; `suggestion`: a model that can write
    any style and language, named when this one cannot."""
    from mlcore.styles import language_name

    who = f"{owner_words}, {ability.name},"
    if not ability.known:
        return f"{who} is checked for styles and languages when it captions."
    if ability.styles is None and ability.languages is None:
        return f"{who} writes every style in any language."
    styles = "every style" if ability.styles is None else (
        "alt text" if ability.styles == ("alt",) else f"the styles {_listed(ability.styles)}")
    languages = "any language" if ability.languages is None else (
        _listed([language_name(code) for code in ability.languages], "or") + " only")
    text = f"{who} writes {styles} in {languages}"
    if suggestion:
        text += f"; choose a vision-language model such as {suggestion} for other styles or languages"
    return text + "."


def caption_request_form_check(form: forms.Form, *, owner=None, model_field: str = "model"):
    """The one check of the caption request a form carries (captions.caption_request
    .caption_request_check) from its cleaned fields: the CaptionRequest, or None with every field
    at fault added to the form as a field error. The fields the form refused itself are not
    judged again. `model_field`: the form's name for the model field; a list of the offered
    models (a ChoiceField) has checked the model already, a text field has not."""
    from django.core.exceptions import ValidationError

    from captions.caption_request import REQUEST_FIELDS, caption_request_check

    names = {name: ("model" if name == model_field else name) for name in form.fields}
    refused = {names.get(name, name) for name in form.errors}
    values = {names[name]: value for name, value in form.cleaned_data.items()
              if names.get(name) in REQUEST_FIELDS and names[name] not in refused}
    try:
        offered = not isinstance(form.fields.get(model_field), forms.ChoiceField)
        return caption_request_check(values, owner=owner, refused=refused, model_field=model_field,
                                     offered_model=offered)
    except ValidationError as error:
        for field, messages in error.message_dict.items():
            if field not in form.errors:
                form.add_error(field if field in form.fields else None, messages)
        return None


class UploadForm(forms.Form):
    images = MultipleFileField(
        label="Images",
        required=False,
        help_text=(
            f"{accepted_formats_text()} images, or .zip archives of them (up to "
            f"{settings.BATCH_MAX_ZIP_BYTES / (1024 * 1024):g} MiB each); up to {settings.MAX_FILES_PER_UPLOAD} "
            f"images of {settings.MAX_UPLOAD_BYTES / (1024 * 1024):g} MiB each."
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
        "Default: {default}. " + _STYLE_BUDGETS,
    )
    file_alt_text = forms.ChoiceField(
        label="Alt text already in the files",
        required=False,
        choices=[("", "The site's default"), ("keep", "Keep the file's alt text"),
                 ("compare", "Caption again and compare"), ("off", "Ignore it")],
        help_text="Alt text or a description embedded in a file (IPTC, XMP, EXIF): kept as the alt text "
        "(the model's caption becomes a suggestion), or captioned again with the file's text in the history.",
        widget=forms.Select(attrs={"aria-describedby": "id_file_alt_text-hint"}),
    )
    # Which model, style and language: clean() checks them together against the model
    # (captions.caption_request.caption_request_check, the check every surface uses): a field
    # error before any file is stored.
    model = forms.CharField(
        label="Model",
        required=False,
        max_length=MODEL_SPEC_MAX_LENGTH,
        help_text="Empty: the site's model. A name from the list, or ensemble:<a>,<b> of them.",
        widget=forms.TextInput(attrs={"list": "caption-model-choices", "autocomplete": "off"}),
    )
    style = forms.ChoiceField(label="Style", required=False, choices=(), help_text=STYLE_HELP)
    language = forms.CharField(
        label="Language",
        required=False,
        max_length=35,
        help_text="BCP 47, e.g. en, fr, pt-BR; empty: your default.",
        widget=forms.TextInput(attrs={"size": 6, "autocomplete": "off"}),
    )
    purpose = purpose_field()
    context = context_field()
    action = action_field()
    ocr = forms.ChoiceField(label="Read text in images", required=False, choices=[
        ("", "Site setting"), ("on", "Yes (OCR)"), ("off", "No")],
        help_text="Tesseract OCR: text it reads confidently goes into the alt text, quoted. Images of text always.")

    def __init__(self, *args, owner=None, **kwargs):
        from captions.selectors import caption_model_choices, model_abilities
        from captions.services.styles import style_choices

        super().__init__(*args, **kwargs)
        self.owner = owner
        self.caption_request = None  # the checked CaptionRequest once the form is valid
        self.model_choices = caption_model_choices()
        self.abilities = model_abilities(self.model_choices)
        site = self.abilities[self.model_choices[0]] if self.model_choices else None
        names = style_choices()
        cannot = set() if site is None or site.styles is None else set(names) - set(site.styles)
        # Without JavaScript the labels speak of the site's model; upload.js relabels them for
        # the model chosen in the Model field (the server's check stays the authority).
        self.fields["style"].choices = [("", "alt (default)")] + [
            (n, f"{n} (not with {site.name})" if n in cannot else n) for n in names
        ]
        for name in REQUEST_FIELDS:
            # static/js/upload.js sends the fields marked data-upload-param with every part. The ids
            # are the upload form's own: the gallery's search form beside it has a `model` field too.
            self.fields[name].widget.attrs.update(
                {"id": f"upload-{name}", "data-upload-param": "", "aria-describedby": f"upload-{name}-hint"}
            )

    @functools.cached_property
    def site_model_text(self) -> str:
        """What the site's model (the one an empty Model field means) can write, in words."""
        if not self.model_choices:
            return ""
        site = self.abilities[self.model_choices[0]]
        return model_ability_text(site, owner_words="The site's model", suggestion=self.any_style_model)

    @functools.cached_property
    def any_style_model(self) -> str:
        """The first offered model that writes every style in any language ("" when none)."""
        return next((a.name for a in self.abilities.values() if a.known and a.styles is None
                     and a.languages is None and not a.name.startswith(("ensemble:", "fallback:"))), "")

    def abilities_json(self) -> dict:
        """For upload.js (json_script): each offered model's styles and languages, the site's model."""
        from mlcore.styles import language_name

        codes = {code for ability in self.abilities.values() for code in (ability.languages or ())}
        return {
            "language_names": {code: language_name(code) for code in sorted(codes)},
            "site": self.model_choices[0] if self.model_choices else "",
            "suggestion": self.any_style_model,
            "models": {name: ability.as_dict() for name, ability in self.abilities.items()},
        }

    @property
    def request_fields(self) -> list:
        """The bound style, language and model fields, in the order the page shows them."""
        return [self[name] for name in REQUEST_FIELDS]

    def clean(self):
        """The one check of the caption request: an upload that cannot be captioned as asked
        stores nothing (caption_request_form_check)."""
        data = super().clean()
        self.caption_request = caption_request_form_check(self, owner=self.owner)
        return data

    def full_clean(self):
        super().full_clean()
        for name in self.errors:  # screen readers hear which field is wrong, and why
            if name in REQUEST_FIELDS:
                self.fields[name].widget.attrs.update(
                    {"aria-invalid": "true", "aria-describedby": f"upload-{name}-error upload-{name}-hint"}
                )



PAGE_SIZES = (24, 48, 96, 200)  # the gallery's page sizes; the first is the default


class ImageSearchForm(forms.Form):
    """The gallery's search (a GET form: the URL holds the whole search, to bookmark or share).
    Every field is optional; `filters()` gives captions.selectors.ImageFilters."""

    q = forms.CharField(required=False, max_length=200, label="Find",
                        help_text="Words in a caption, a correction or a file name.")
    status = forms.ChoiceField(required=False, label="Status", choices=[("", "Any status")])
    review = forms.ChoiceField(required=False, label="Review", choices=[
        ("", "Any"), ("yes", "Needs review"), ("no", "Does not need review")])
    warnings = forms.ChoiceField(required=False, label="Alt-text warnings", choices=[
        ("", "Any"), ("yes", "Has warnings"), ("no", "No warnings")])
    reviewed = forms.ChoiceField(required=False, label="Reviewed", choices=[
        ("", "Any"), ("no", "Not reviewed by a person"), ("yes", "Written or approved by a person")])
    decorative = forms.ChoiceField(required=False, label="Decorative", choices=[
        ("", "Any"), ("yes", "Decorative"), ("no", "Not decorative")])
    batch = forms.TypedChoiceField(required=False, label="Upload", coerce=int, empty_value=None, choices=[("", "Any upload")])
    model = forms.ChoiceField(required=False, label="Model", choices=[("", "Any model")])
    rating = forms.TypedChoiceField(required=False, label="Your rating", coerce=int, empty_value=None,
                                    choices=[("", "Any")] + [(str(n), f"{n} star{'s' if n > 1 else ''}") for n in range(1, 6)])
    start = forms.DateField(required=False, label="Uploaded from", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label="Uploaded until", widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(required=False, label="Sort")
    size = forms.TypedChoiceField(required=False, label="Per page", coerce=int, empty_value=None,
                                  choices=[("", "As before")] + [(str(n), str(n)) for n in PAGE_SIZES])
    mode = forms.ChoiceField(required=False, label="Match", choices=[("", "Automatic")])

    def __init__(self, data=None, *, batches=(), models=(), orderings=None, statuses=(), modes=None):
        super().__init__(data)
        self.fields["status"].choices = [("", "Any status"), *statuses]
        self.fields["batch"].choices = [("", "Any upload"), *((str(b.pk), str(b)) for b in batches)]
        self.fields["model"].choices = [("", "Any model"), *((m, m) for m in models)]
        self.fields["sort"].choices = [("", "Best match (newest without words)"), *(orderings or {}).items()]
        self.fields["mode"].choices = [("", "Automatic (meaning and words where available)"), *(modes or {}).items()]

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
        return any(self.cleaned_data.get(name) not in (None, "") for name in self.fields if name not in ("sort", "size", "mode"))

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
            has_warnings={"yes": True, "no": False}.get(data.get("warnings") or ""),
            reviewed={"yes": True, "no": False}.get(data.get("reviewed") or ""),
            decorative={"yes": True, "no": False}.get(data.get("decorative") or ""),
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

    style = forms.ChoiceField(label="Style", required=False, choices=(), help_text=STYLE_HELP)
    language = forms.CharField(label="Language", required=False, max_length=35,
                               help_text="BCP 47, e.g. en, fr, pt-BR; empty: your default.",
                               widget=forms.TextInput(attrs={"size": 6, "autocomplete": "off"}))
    purpose = purpose_field(blank_label="Keep each image's purpose")
    context = context_field(help_text="Empty: keep each image's context.")
    replace_human = forms.BooleanField(
        label="Replace human text too", required=False,
        help_text="Without this, an image whose alt text a person wrote or approved keeps it, and the new "
        "caption is offered as a suggestion.",
    )
    replace_human_confirm = forms.BooleanField(
        label="Yes, replace text people wrote or approved", required=False,
        help_text="Needed with \"Replace human text too\".",
    )

    def __init__(self, *args, model_choices: list[str], owner=None, **kwargs):
        from captions.services.styles import style_choices

        super().__init__(*args, **kwargs)
        self.owner = owner
        self.caption_request = None  # the checked CaptionRequest once the form is valid
        self.fields["model_spec"].choices = [(m, m) for m in model_choices]
        self.fields["style"].choices = [("", "alt (default)")] + [(n, n) for n in style_choices()]
        for name, field in self.fields.items():
            if field.help_text and isinstance(self.auto_id, str):
                field.widget.attrs["aria-describedby"] = (self.auto_id % name) + "-hint"


    def clean(self):
        from django.core.exceptions import ValidationError

        from captions.services.alttext import replace_human_clean

        data = super().clean()
        try:
            data["replace_human"] = replace_human_clean(data.get("replace_human"), data.get("replace_human_confirm"))
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                self.add_error(field, messages)
        # The one check of the re-caption request (model, settings, style, language, purpose, context)
        self.caption_request = caption_request_form_check(self, owner=self.owner, model_field="model_spec")
        return data

    def error_text(self, errors: dict) -> str:
        """Errors by field as one line that names each field: "Style: blip-base cannot ..."."""
        return " ".join(
            f"{self.fields[name].label}: {message}" if name in self.fields else message
            for name, messages in errors.items() for message in messages
        )


class AltSettingsForm(forms.Form):
    """An image's purpose, context and link action (the image page)."""

    purpose = purpose_field()
    context = context_field()
    action = action_field()
