from django import template

from feedback.forms import feedback_form_for
from feedback.selectors import feedback_by_caption_for

register = template.Library()


def _page_feedback(context, request) -> dict | None:
    """The user's feedback on every caption of the images being rendered (a gallery page in
    context["page"], or the cards a gallery poll sends in context["changed"]), loaded in one
    query on first use and kept on the request; None elsewhere, where each widget reads its own."""
    known = context.get("feedback_by_caption")
    if known is not None:
        return known
    page = context.get("page")
    if page is None:
        page = context.get("changed")
    if page is None or not getattr(request, "user", None) or not request.user.is_authenticated:
        return None
    known = getattr(request, "_feedback_by_caption", None)
    if known is None:
        ids = [i.current_caption_id for i in page if getattr(i, "current_caption_id", None)]
        known = feedback_by_caption_for(request.user, ids)
        request._feedback_by_caption = known
    return known


@register.inclusion_tag("feedback/_rating.html", takes_context=True)
def caption_feedback(context, caption):
    """The 1-5 star rating and correction widget for one caption, filled with the user's feedback.

    Usage: {% load feedback_tags %}{% if image.current_caption %}{% caption_feedback image.current_caption %}{% endif %}
    """
    request = context["request"]
    return {
        "caption": caption,
        "feedback_form": feedback_form_for(request.user, caption, _page_feedback(context, request)),
        "request": request,
        "csrf_token": context.get("csrf_token"),
    }


@register.simple_tag(takes_context=True)
def review_shortcuts(context):
    """The user's single-key shortcuts (on/off and keys), for pages outside the review queue that
    offer the same next/previous keys: {% review_shortcuts as shortcuts %}."""
    from feedback.selectors import review_shortcuts_for

    return review_shortcuts_for(context["request"].user)
