"""Alt text fit for its purpose: the readers shared by the selectors and the services (no
writes; captions.services.alttext writes). The one home of where a caption's text came from
(``caption_source``: human-approved, human-edited, file, model) and of which text is the image's
alt text (``SOURCE_PRIORITY``: human-approved > human-edited > file > model, never recency
alone), and of an image's purpose, context and alt text as exported."""

from captions.models import Caption, Image
from mlcore.alttext import DEFAULT_PURPOSE

HUMAN_APPROVED = "human-approved"
HUMAN_EDITED = "human-edited"
FILE = "file"
MODEL = "model"
#: higher wins: the current alt text is the best-ranked text, whatever came last
SOURCE_PRIORITY = {HUMAN_APPROVED: 4, HUMAN_EDITED: 3, FILE: 2, MODEL: 1}
SOURCE_LABELS = {
    HUMAN_APPROVED: "Approved by a person",
    HUMAN_EDITED: "Written by a person",
    FILE: "From the file's metadata",
    MODEL: "Written by a model",
}


def caption_source(caption: Caption | None) -> str:
    """human-approved (a person approved it as it is), human-edited (a person wrote or picked
    it), file (read from the image file's metadata) or model ("" for no caption)."""
    if caption is None:
        return ""
    if caption.approved_at is not None:
        return HUMAN_APPROVED
    if caption.source == Caption.Source.HUMAN:
        return HUMAN_EDITED
    if caption.source == Caption.Source.FILE:
        return FILE
    return MODEL


def caption_priority(caption: Caption | None) -> int:
    return SOURCE_PRIORITY.get(caption_source(caption), 0)


def caption_is_protected(caption: Caption | None) -> bool:
    """Whether a model caption may not silently replace this one (a person's or a file's text)."""
    return caption_priority(caption) > SOURCE_PRIORITY[MODEL]


def caption_takes_over(*, current: Caption | None, replace_human: bool) -> bool:
    """Whether a new model caption becomes the current one over `current`: when nothing outranks
    it, or when the request explicitly asked to replace human text."""
    return replace_human or not caption_is_protected(current)


# --- purpose and context ------------------------------------------------------------------------


def image_purpose(image: Image) -> str:
    return (image.params or {}).get("purpose") or DEFAULT_PURPOSE


def image_context(image: Image) -> str:
    return (image.params or {}).get("context") or ""


def image_is_decorative(image: Image) -> bool:
    return image_purpose(image) == "decorative"


def image_alt_text(image: Image) -> str:
    """The alt text of `image` as exported: "" for a decorative image (an explicit empty alt),
    else its current caption's text ("" when it has none yet)."""
    if image_is_decorative(image):
        return ""
    caption = image.current_caption
    return caption.text if caption is not None else ""
