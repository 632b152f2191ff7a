from django import template

register = template.Library()

MODEL_FAILURE = "Captioning failed because the model was not available. Retry this image when captioning is back."


@register.filter
def plain_failure(error: str) -> str:
    """A failed image's reason in plain words for its owner: a failure to load the model (an
    operator matter, worded for operators) becomes one sentence; other reasons (a damaged file, bad
    settings) are already about the image and are shown as they are. Staff see the raw reason too."""
    text = (error or "").strip()
    if not text:
        return "Captioning failed. Retry this image."
    lowered = text.lower()
    if "model" in lowered:  # ModelUnavailable / ModelLoadError texts all name the model
        return MODEL_FAILURE
    return text
