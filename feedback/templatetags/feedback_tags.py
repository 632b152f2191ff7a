from django import template

from feedback.forms import feedback_form_for

register = template.Library()


@register.inclusion_tag("feedback/_rating.html", takes_context=True)
def caption_feedback(context, caption):
    """The 1-5 star rating and correction widget for one caption, filled with the user's feedback.

    Usage: {% load feedback_tags %}{% if image.current_caption %}{% caption_feedback image.current_caption %}{% endif %}
    """
    request = context["request"]
    return {
        "caption": caption,
        "feedback_form": feedback_form_for(request.user, caption, context.get("feedback_by_caption")),
        "request": request,
        "csrf_token": context.get("csrf_token"),
    }
