"""Which images a bulk action applies to, read from a posted form: either the ticked ones
(`ids`, public ids) or, with `all=1`, every image the search in the same form finds (the
gallery's "select all N matching": the whole result, not only the page). Used by the captions
bulk view and by feedback's bulk approve."""

import uuid

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from captions import selectors
from captions.forms import ImageSearchForm
from captions.models import Image
from captions.services.bulk import BULK_LIMIT
from mlcore.errors import ModelLoadError


def search_form_for(user, data) -> ImageSearchForm:
    """The gallery's search form bound to `data` (a QueryDict; None for unbound), with the user's
    batches, models, orderings and statuses as its choices."""
    batches = list(selectors.batches_for(user)[:200])
    wanted = (data or {}).get("batch") or ""
    if wanted.isascii() and wanted.isdigit() and len(wanted) < 19 and all(str(b.pk) != wanted for b in batches):
        batches += list(selectors.batches_for(user).filter(pk=int(wanted)))  # an older one, by link
    return ImageSearchForm(
        data,
        batches=batches,
        models=selectors.image_model_choices_for(user),
        orderings={key: label for key, (label, _) in selectors.IMAGE_ORDERINGS.items()},
        statuses=Image.Status.choices,
        modes=selectors.search_modes_available(),
    )


def selected_images_for(user, data) -> QuerySet[Image]:
    """The user's images the posted selection names. ValidationError (a sentence for the user)
    for a malformed id, a bad search, more than BULK_LIMIT ids, or nothing selected."""
    if data.get("all") == "1":
        form = search_form_for(user, data)
        if not form.is_valid():
            raise ValidationError("The search of this selection is not valid any more; search again.")
        try:
            return selectors.images_search_for(
                user, form.cleaned_data.get("q", ""), form.filters(), mode=form.cleaned_data.get("mode") or ""
            )
        except (selectors.SemanticSearchUnavailable, ModelLoadError) as error:
            raise ValidationError("Semantic search is unavailable now; search with the keyword mode.") from error
    raw_ids = data.getlist("ids")
    if len(raw_ids) > BULK_LIMIT:
        raise ValidationError(f"At most {BULK_LIMIT} images can be changed at once.")
    try:
        ids = [uuid.UUID(value) for value in raw_ids]
    except ValueError:
        raise ValidationError("The selection names an image that does not exist.") from None
    if not ids:
        raise ValidationError("Select at least one image.")
    return selectors.images_by_public_id_for(user, ids)
