"""The review queue, the rating widget and the model page (server-rendered, htmx for the inline parts)."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from captions.limits import queue_files_take
from captions.responses import image_file_response
from captions.selection import selected_images_for
from captions.selectors import caption_model_choices, captioning_defaults
from captions.services.bulk import BULK_LIMIT
from core.forms import add_service_errors
from core.params import ParamError, int_param, int_param_or_404
from core.views import safe_next, staff_required
from feedback import selectors, services
from feedback.forms import (
    CaptionEditForm,
    FeedbackForm,
    PickForm,
    RecaptionForm,
    ReviewerSettingsForm,
    ShortcutSettingsForm,
    feedback_form_for,
)

# --- The queue -------------------------------------------------------------------------------------


class QueuePlace:
    """Where the reviewer is: filters and position, read from the query string or a posted form."""

    def __init__(self, data):
        # A batch that cannot exist (non-numeric, negative, beyond a database integer) is a 404.
        self.batch_id = int_param_or_404(data.get("batch"), name="batch")
        self.model_id = (data.get("model") or "").strip()
        try:  # a position is clamped to the queue anyway: a bad one starts at the top
            self.position = int_param(data.get("position"), name="position", minimum=0, default=0)
        except ParamError:
            self.position = 0
        try:  # a caption to start at (a jump from the image's page); a bad one is ignored
            self.caption_id = int_param(data.get("caption"), name="caption")
        except ParamError:
            self.caption_id = None

    def query(self, position: int | None = None) -> str:
        params = {"position": self.position if position is None else position}
        if self.batch_id is not None:
            params["batch"] = self.batch_id
        if self.model_id:
            params["model"] = self.model_id
        return urlencode(params)

    def url(self, position: int | None = None) -> str:
        return f"{reverse('feedback:queue')}?{self.query(position)}"


BULK_SHOWN = 24  # how many queue captions the page lists for selecting many


def _panel_context(request: HttpRequest, place: QueuePlace, **extra) -> dict:
    queue = selectors.review_queue_for(request.user, batch_id=place.batch_id, model_id=place.model_id)
    remaining = queue.count()
    if place.caption_id is not None:  # a jump from the image's page: start at that caption
        ids = list(queue.values_list("pk", flat=True))
        if place.caption_id in ids:
            place.position = ids.index(place.caption_id)
        place.caption_id = None
    place.position = max(0, min(place.position, remaining - 1))
    caption = queue[place.position] if remaining else None
    context = {
        "place": place,
        "remaining": remaining,
        "caption": caption,
        "image": caption.image if caption else None,
        "prev_url": place.url(place.position - 1) if place.position > 0 else "",
        "next_url": place.url(place.position + 1) if place.position + 1 < remaining else "",
        "shortcuts": selectors.review_shortcuts_for(request.user),
    }
    if caption:
        context["alternatives"] = selectors.caption_alternatives(caption)
        context["feedback_form"] = feedback_form_for(request.user, caption)
        context["recaption_form"] = RecaptionForm.suggesting_other_settings(caption, caption_model_choices())
        context["edit_form"] = CaptionEditForm(initial={"text": caption.text})
    context.update(extra)  # a refused form comes back with its errors
    return context


def _partial(request: HttpRequest) -> bool:
    """An htmx swap gets the panel alone; a page load or a history restore gets the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def _render_panel(request: HttpRequest, place: QueuePlace, status: int = 200, **extra) -> HttpResponse:
    context = _panel_context(request, place, **extra)
    if _partial(request):
        return render(request, "feedback/_review_panel.html", context, status=status)
    context["filters"] = selectors.review_filter_choices_for(request.user)
    context["shown"] = list(
        selectors.review_queue_for(request.user, batch_id=place.batch_id, model_id=place.model_id)[:BULK_SHOWN]
    )
    context["threshold"] = selectors.review_threshold_for(request.user)
    own_threshold = context["threshold"].value if context["threshold"].source == "user" else None
    context["settings_form"] = ReviewerSettingsForm(initial={"review_threshold": own_threshold})
    shortcuts = context["shortcuts"]
    context["shortcut_form"] = ShortcutSettingsForm(
        initial={"enabled": shortcuts.enabled, **{f"key_{action}": key for action, key in shortcuts.keys.items()}}
    )
    return render(request, "feedback/review.html", context, status=status)


@login_required
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    return _render_panel(request, QueuePlace(request.GET), editing=request.GET.get("edit") == "1")


def _after_action(request: HttpRequest, place: QueuePlace, notice: str) -> HttpResponse:
    """The next item in place of the one just decided (it left the queue), or back to the page."""
    if _partial(request):
        return _render_panel(request, place, notice=notice)
    messages.success(request, notice)
    return redirect(place.url())


def _refused(request: HttpRequest, place: QueuePlace, error: ValidationError, **forms) -> HttpResponse:
    if _partial(request):
        return _render_panel(request, place, status=400, error=" ".join(error.messages), **forms)
    messages.error(request, " ".join(error.messages))
    return redirect(place.url())


@login_required
@require_POST
def caption_approve(request: HttpRequest, caption_id: int) -> HttpResponse:
    caption = selectors.reviewable_caption_for(request.user, caption_id)
    place = QueuePlace(request.POST)
    try:
        services.caption_approve(caption=caption, reviewer=request.user)
    except ValidationError as error:
        return _refused(request, place, error)
    return _after_action(request, place, f"Approved the caption “{caption.text}”")


@login_required
@require_POST
def caption_edit(request: HttpRequest, caption_id: int) -> HttpResponse:
    caption = selectors.reviewable_caption_for(request.user, caption_id)
    place = QueuePlace(request.POST)
    form = CaptionEditForm(request.POST)
    back = safe_next(request)  # an edit from the image's page goes back there
    if form.is_valid():
        try:
            human = services.caption_edit(
                caption=caption, reviewer=request.user, text=form.cleaned_data["text"],
                extended_description=(" ".join(form.cleaned_data["extended_description"].split())
                                      if "extended_description" in request.POST else None),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            notice = (
                f"No change: the caption already reads “{human.text}”"
                if human.pk == caption.pk
                else f"Saved the caption “{human.text}”"
            )
            if back:
                (messages.info if human.pk == caption.pk else messages.success)(request, notice)
                return redirect(back)
            return _after_action(request, place, notice)
    if back:
        messages.error(request, " ".join(m for errors in form.errors.values() for m in errors))
        return redirect(back)
    return _render_panel(request, place, status=400, edit_form=form, editing=True)


@login_required
@require_POST
def caption_pick(request: HttpRequest, caption_id: int) -> HttpResponse:
    caption = selectors.reviewable_caption_for(request.user, caption_id)
    place = QueuePlace(request.POST)
    form = PickForm(request.POST)
    if not form.is_valid():
        return _refused(request, place, ValidationError("Choose one of the alternatives."))
    try:
        human = services.caption_pick(caption=caption, reviewer=request.user, index=form.cleaned_data["index"])
    except ValidationError as error:
        return _refused(request, place, error)
    return _after_action(request, place, f"Picked the caption “{human.text}”")


@login_required
@require_POST
def caption_recaption(request: HttpRequest, caption_id: int) -> HttpResponse:
    """Reject (the caption is wrong) or just re-caption, with the settings of the form."""
    caption = selectors.reviewable_caption_for(request.user, caption_id)
    place = QueuePlace(request.POST)
    form = RecaptionForm(request.POST, model_choices=caption_model_choices())
    reject = request.POST.get("decision", "reject") != "recaption"
    if form.is_valid():
        try:
            queue_files_take(owner=request.user, count=1)
            services.image_recaption(
                caption=caption, reviewer=request.user, request=form.caption_request, reject=reject
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            verb = "Rejected; a new caption is on its way" if reject else "A new caption is on its way"
            return _after_action(request, place, f"{verb} for {caption.image.original_filename}.")
    error = ValidationError(" ".join(form.non_field_errors()) or "Check the re-caption settings.")
    return _refused(request, place, error, recaption_form=form, rejecting=True)


@login_required
@require_POST
def captions_bulk_approve(request: HttpRequest) -> HttpResponse:
    """Approve many captions at once: the review queue's ticked ones (`captions`, caption ids;
    "Approve all shown" sends every one shown) or the gallery's selection (`ids` or all=1 with
    the search, as captions.selection reads it). Back to `next` (a path on this site) or the
    queue, with how many were approved or why nothing was."""
    back = safe_next(request) or reverse("feedback:queue")
    try:
        if "captions" in request.POST or "shown" in request.POST:
            # "Approve all shown" sends the ids of every caption listed; otherwise the ticked ones.
            raw = request.POST.getlist("shown" if request.POST.get("all_shown") else "captions")
            if len(raw) > BULK_LIMIT or not all(value.isascii() and value.isdigit() and len(value) < 19 for value in raw):
                raise ValidationError("The selection names a caption that does not exist.")
            captions = selectors.bulk_approvable_captions_for(request.user, caption_ids=[int(v) for v in raw])
        else:
            images = selected_images_for(request.user, request.POST)
            captions = selectors.bulk_approvable_captions_for(request.user, images=images)
        approved = services.captions_bulk_approve(reviewer=request.user, captions=captions)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(back)
    messages.success(request, f"Approved {approved} caption{'s' if approved != 1 else ''}.")
    return redirect(back)


# --- Feedback --------------------------------------------------------------------------------------


@login_required
def caption_feedback(request: HttpRequest, caption_id: int) -> HttpResponse:
    """The rating widget: GET renders it, POST saves the user's one feedback on the caption (and
    the owner's correction becomes the image's caption)."""
    caption = selectors.reviewable_caption_for(request.user, caption_id)
    status, saved, replaced = 200, False, False
    if request.method == "POST":
        form = FeedbackForm(request.POST)
        if form.is_valid():
            try:
                _, replaced = services.caption_feedback_submit(
                    user=request.user,
                    caption=caption,
                    rating=form.cleaned_data["rating"],
                    corrected_caption=form.cleaned_data["corrected_caption"],
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                saved = True
                form = feedback_form_for(request.user, caption)
        if not saved:
            status = 400
        elif replaced:
            messages.success(request, "Thank you: your caption is now the image's alt text.")
            if _partial(request):  # the caption shown around the widget changed: reload the page
                response = HttpResponse(status=204)
                response["HX-Refresh"] = "true"
                return response
            return redirect(safe_next(request) or reverse("captions:image_detail", args=[caption.image.public_id]))
        elif not _partial(request):
            messages.success(request, "Thank you: your feedback was saved.")
            return redirect(safe_next(request) or reverse("captions:image_detail", args=[caption.image.public_id]))
    else:
        form = feedback_form_for(request.user, caption)
    template = "feedback/_rating.html" if _partial(request) else "feedback/feedback_page.html"
    return render(request, template, {"caption": caption, "feedback_form": form, "saved": saved}, status=status)


@login_required
@require_POST
def reviewer_settings(request: HttpRequest) -> HttpResponse:
    form = ReviewerSettingsForm(request.POST)
    if form.is_valid():
        try:
            services.reviewer_settings_update(user=request.user, review_threshold=form.cleaned_data["review_threshold"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Your review threshold was saved.")
            return redirect("feedback:queue")
    messages.error(request, " ".join(m for errors in form.errors.values() for m in errors))
    return redirect("feedback:queue")


@login_required
@require_POST
def reviewer_shortcuts(request: HttpRequest) -> HttpResponse:
    """Turn the review queue's single-key shortcuts on or off, or change their keys."""
    form = ShortcutSettingsForm(request.POST)
    back = safe_next(request) or reverse("feedback:queue")
    if form.is_valid():
        try:
            services.reviewer_shortcuts_update(user=request.user, enabled=form.cleaned_data["enabled"], keys=form.keys())
        except ValidationError as error:  # by action: on that action's key field
            for name, errors in error.message_dict.items():
                form.add_error(f"key_{name}" if f"key_{name}" in form.fields else None, errors)
        else:
            messages.success(request, "Your shortcuts were saved." if form.cleaned_data["enabled"]
                             else "Single-key shortcuts are off.")
            return redirect(back)
    faults = [f"{form.fields[name].label}: {m}" if name in form.fields else m
              for name, errors in form.errors.items() for m in errors]
    messages.error(request, "Shortcuts not saved. " + " ".join(faults))
    return redirect(back)


@login_required
@require_GET
def review_image_file(request: HttpRequest, public_id, variant: str) -> FileResponse:
    """The image for a reviewer, who may not be its owner (the gallery's URL serves owners only)."""
    image = selectors.reviewable_image_for(request.user, public_id)
    return image_file_response(image, variant)


# --- Models ----------------------------------------------------------------------------------------


staff_only = staff_required(message="Only staff allowed to switch models can manage caption models.",
                            permission="feedback.add_modelactivation")


@staff_only
@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "feedback/models.html",
        {
            "runs": selectors.training_runs()[:50],
            "active": selectors.active_model_activation(),
            "active_spec": captioning_defaults().model_spec,
        },
    )


@staff_only
@require_POST
def model_activate(request: HttpRequest) -> HttpResponse:
    run_id = request.POST.get("run", "")
    run = selectors.activatable_training_run(run_id) if run_id else None
    try:
        services.model_activate(training_run=run, user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Workers now caption with {captioning_defaults().model_spec} (from their next batch).")
    return redirect("feedback:models")
