from django import template
from django.utils.html import format_html, format_html_join

from captions.models import Image
from captions.search import highlight_spans, search_terms

register = template.Library()

# What the owner is told for each kind of failure (Image.error_kind, stored by the worker when it
# recorded the failure): what happened, in plain words, and what to do about it.
FAILURE_MESSAGES = {
    Image.FailureKind.MODEL_UNAVAILABLE: (
        "Captioning failed because the captioning model could not be loaded on this site.",
        "An administrator has to install or configure the model; retry this image after that.",
    ),
    Image.FailureKind.NO_WORDS: (
        "The model looked at this image but produced no words for it.",
        "Retry it with other settings (another style, more beams or sampling) or another model, "
        "or write the caption yourself.",
    ),
    Image.FailureKind.UNSUPPORTED_STYLE: (
        "The model cannot write the caption style or language this image asked for.",
        "Retry it with a style and language the model supports, or choose a vision-language model.",
    ),
    Image.FailureKind.INVALID_PARAMS: (
        "The captioning settings of this image are not valid.",
        "Upload it again with other settings.",
    ),
    Image.FailureKind.ENGINE_UNAVAILABLE: (
        "The captioning service did not answer for this image.",
        "Retry it later.",
    ),
    Image.FailureKind.IMAGE_UNREADABLE: (
        "The stored image file could not be read.",
        "Upload the image again (delete this one), perhaps saved in another format.",
    ),
    Image.FailureKind.MODEL_ERROR: (
        "The model ran into an error while captioning this image.",
        "Retry it; if it fails again, try other settings or another model.",
    ),
    Image.FailureKind.WORKER_STOPPED: (
        "The worker captioning this image stopped before it finished.",
        "Retry it.",
    ),
}

# Kinds whose stored reason speaks to operators (settings, commands, folders): the owner gets the
# plain sentence; staff see the full reason on the image's page.
_OPERATOR_REASONS = {Image.FailureKind.MODEL_UNAVAILABLE}


@register.filter
def plain_failure(image) -> str:
    """Why ``image`` (an Image, or a reason string for callers without one) failed, in plain words
    for its owner: the sentence of its error_kind, what to do, and the recorded reason itself
    unless that reason is for operators (a model that cannot be loaded). An image without a kind
    (recorded before kinds existed) shows its reason as it is: a wrong guess would mislead more."""
    if isinstance(image, Image):
        reason, kind = (image.error or "").strip(), image.error_kind
    else:
        reason, kind = str(image or "").strip(), ""
    message = FAILURE_MESSAGES.get(kind)
    if message is None:
        return reason or "Captioning failed. Retry this image."
    headline, hint = message
    if not reason or kind in _OPERATOR_REASONS:
        return f"{headline} {hint}"
    return f"{headline} {hint} Reason: {reason}"


@register.filter
def highlight(text, query) -> str:
    """`text` with the words the search `query` matched in <mark> (escaped, safe to show)."""
    text = str(text or "")
    parts = highlight_spans(text, search_terms(str(query or "")))
    return format_html_join("", "{}", ((format_html("<mark>{}</mark>", piece) if hit else piece,) for piece, hit in parts))


@register.simple_tag
def export_formats():
    """The export formats (captions.exports.EXPORT_FORMATS), in the table's order, for the
    templates' download links and format menus."""
    from captions.exports import EXPORT_FORMATS

    return list(EXPORT_FORMATS.values())
