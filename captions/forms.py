from django import forms
from django.conf import settings

from mlcore.params import GenerationParams


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
    num_beams = forms.IntegerField(
        label="More careful (slower)",
        required=False,
        min_value=1,
        max_value=10,
        help_text=(
            f"How many wordings the model weighs at once, 1 to 10. Higher is more careful and slower. "
            f"Default: {GenerationParams.num_beams}."
        ),
        widget=forms.NumberInput(attrs={"placeholder": str(GenerationParams.num_beams)}),
    )
    max_length = forms.IntegerField(
        label="Longest caption",
        required=False,
        min_value=5,
        max_value=100,
        help_text=(
            f"The most word pieces (tokens, about ¾ of a word each) a caption may have, 5 to 100. "
            f"Default: {GenerationParams.max_length}."
        ),
        widget=forms.NumberInput(attrs={"placeholder": str(GenerationParams.max_length)}),
    )

    def generation_params(self) -> dict:
        return {k: v for k in ("num_beams", "max_length") if (v := self.cleaned_data.get(k)) is not None}
