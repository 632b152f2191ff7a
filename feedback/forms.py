from django import forms

from captions.forms import caption_request_form_check, generation_param_field
from feedback.models import Feedback
from feedback.shortcuts import ACTIONS
from mlcore.params import PARAM_RANGES


class CaptionEditForm(forms.Form):
    # Length and whitespace are the service's rules (caption_text_clean), shared with the API.
    text = forms.CharField(
        label="Caption",
        required=False,
        strip=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "maxlength": Feedback.MAX_CORRECTION_LENGTH}),
    )
    # a complex image's long description (left out: kept as it is)
    extended_description = forms.CharField(label="Extended description", required=False, max_length=5000,
                                           widget=forms.Textarea)


class PickForm(forms.Form):
    index = forms.IntegerField(min_value=0)


class RecaptionForm(forms.Form):
    model_spec = forms.ChoiceField(label="Model", choices=())
    num_beams = generation_param_field(
        "num_beams", label="More careful (slower)", required=True,
        help_text="How many wordings the model weighs at once, {low} to {high} (default {default}).",
    )
    max_length = generation_param_field(
        "max_length", label="Longest caption", required=True,
        help_text="The most word pieces a caption may have, {low} to {high} (default {default}).",
    )
    num_alternatives = generation_param_field(
        "num_alternatives", label="Alternatives", required=True,
        help_text="How many captions to offer, {low} to {high} (default {default}).",
    )
    do_sample = forms.BooleanField(
        label="More varied wording", required=False,
        help_text="Pick words with some chance instead of always the likeliest one.",
    )
    # Re-caption in another style / language (checked against the model with the rest, once)
    style = forms.ChoiceField(label="Style", required=False, choices=())
    language = forms.CharField(label="Language", required=False, max_length=35, help_text="BCP 47, e.g. en, fr.")

    def __init__(self, *args, model_choices: list[str], **kwargs):
        from captions.services.styles import style_choices

        super().__init__(*args, **kwargs)
        self.fields["model_spec"].choices = [(m, m) for m in model_choices]
        self.fields["style"].choices = [(n, n) for n in style_choices()]

    @classmethod
    def suggesting_other_settings(cls, caption, model_choices: list[str]) -> "RecaptionForm":
        """Pre-filled with settings that differ from the caption's, so Enter re-captions at once."""
        params = caption.params or {}
        beams = int(params.get("num_beams") or PARAM_RANGES["num_beams"].default)
        most_beams = PARAM_RANGES["num_beams"].max
        suggested_beams = beams + 2 if beams + 2 <= most_beams else 5
        return cls(
            model_choices=model_choices,
            initial={
                "model_spec": model_choices[0] if model_choices else "",
                "num_beams": suggested_beams,
                "max_length": int(params.get("max_length") or PARAM_RANGES["max_length"].default),
                "num_alternatives": min(3, suggested_beams, PARAM_RANGES["num_alternatives"].max),
                "do_sample": False,
                "style": params.get("style") or "alt",
                "language": params.get("language") or "en",
            },
        )

    def clean(self):
        """The one check of the re-caption request (captions.forms.caption_request_form_check):
        self.caption_request, or every field at fault a field error."""
        data = super().clean()
        self.caption_request = caption_request_form_check(self, model_field="model_spec")
        return data


class FeedbackForm(forms.Form):
    rating = forms.TypedChoiceField(
        label="Rating", choices=[(n, n) for n in range(1, 6)], coerce=int, widget=forms.RadioSelect
    )
    corrected_caption = forms.CharField(
        label="Better caption (optional)",
        required=False,
        strip=False,
        widget=forms.TextInput(attrs={"maxlength": Feedback.MAX_CORRECTION_LENGTH, "placeholder": "Better caption (optional)"}),
    )


def feedback_form_for(user, caption, known: dict | None = None) -> FeedbackForm:
    """The rating widget's form, filled with the user's feedback on the caption when there is one.
    `known` is the page's feedback already loaded by caption id (saves a query per caption)."""
    from feedback.selectors import feedback_of

    existing = known.get(caption.pk) if known is not None else feedback_of(user, caption)
    initial = {"rating": existing.rating, "corrected_caption": existing.corrected_caption} if existing else {}
    return FeedbackForm(initial=initial)


class ShortcutSettingsForm(forms.Form):
    """The review queue's single-key shortcuts: on or off, and the key of each action (key_ACTION)."""

    enabled = forms.BooleanField(label="Single-key shortcuts on", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for action, (default, words) in ACTIONS.items():
            self.fields[f"key_{action}"] = forms.CharField(
                label=f"Key for {words.split(' (')[0]}", max_length=1, strip=False,
                help_text=f"Default {default}.", widget=forms.TextInput(attrs={"size": 2, "autocomplete": "off"}),
            )

    def keys(self) -> dict[str, str]:
        return {action: self.cleaned_data[f"key_{action}"] for action in ACTIONS}


class ReviewerSettingsForm(forms.Form):
    review_threshold = forms.FloatField(
        label="My review threshold",
        required=False,
        min_value=0.0,
        max_value=1.0,
        help_text="Review captions below this confidence, from 0 to 1 (for example 0.42). Empty: the site's threshold.",
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
