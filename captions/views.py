import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from captions import embedding, exports, selectors
from captions.api.common import submit_answer
from captions.forms import PAGE_SIZES, AltSettingsForm, BulkRecaptionForm, ImageSearchForm, UploadForm
from captions.limits import QueueLimitReached, queue_files_take
from captions.models import Image
from captions.responses import export_response, image_file_response, image_with_alt_text_response
from captions.selection import search_form_for, selected_images_for
from captions.services import queue
from captions.services.bulk import BULK_LIMIT, images_bulk_delete, images_bulk_recaption, images_bulk_retry
from captions.services.results import UploadRejected
from captions.services.submission import upload_submit
from captions.uploads import archive_upload_handlers_install, oversize_refusals
from core.exceptions import error_body
from core.views import safe_next
from mlcore.errors import ModelLoadError

GALLERY_PAGE_SIZE = PAGE_SIZES[0]
PAGE_SIZE_SESSION_KEY = "gallery_page_size"


def _wants_json(request: HttpRequest) -> bool:
    """The page's upload script (static/js/upload.js) asks for JSON: it sends files in several
    requests and lists each one's refusals as they come."""
    return "application/json" in request.headers.get("Accept", "")


def _form_error_json(form: UploadForm, status: int = 400) -> JsonResponse:
    """The API's error format for a form that stored nothing: `errors` keyed by the form's field
    names ("images" for the files), `detail` the first message."""
    errors = {("images" if field == "__all__" else field): list(messages) for field, messages in form.errors.items()}
    first = next(iter(errors.items()), ("images", ["Nothing was stored."]))
    detail = first[1][0] if first[0] == "images" else f"{first[0]}: {first[1][0]}"
    code = "throttled" if status == 429 else "files_refused" if set(errors) == {"images"} else "invalid"
    return JsonResponse(error_body(detail, code, errors), status=status)


def _queued_notice(count: int) -> str:
    return f"{count} image{'s' if count != 1 else ''} queued for captioning."


def _upload_limits() -> dict:
    return {
        "max_files": settings.MAX_FILES_PER_UPLOAD,
        "max_bytes": settings.MAX_UPLOAD_BYTES,
        "max_zip_bytes": settings.BATCH_MAX_ZIP_BYTES,
    }


@require_GET
def gallery(request: HttpRequest) -> HttpResponse:
    """The home page: a visitor's is the landing page (what the site does, and the public demo);
    a signed-in user's, the gallery (search, filters, cards; the upload form, folded away once the
    user has images)."""
    if not request.user.is_authenticated:
        return landing(request)
    if any(value == "" for _, values in request.GET.lists() for value in values):
        # A search form sent without script carries every empty field: the same search, shorter.
        kept = [(key, value) for key, values in request.GET.lists() for value in values if value != ""]
        return redirect(f"{request.path}?{urlencode(kept)}" if kept else request.path)
    return gallery_page(request, UploadForm(owner=request.user))


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "captions/landing.html", {
        "demo_enabled": settings.DEMO_ENABLED,
        "demo_max_mib": settings.DEMO_MAX_UPLOAD_BYTES / (1024 * 1024),
    })


def gallery_page(request: HttpRequest, form: UploadForm, status: int = 200) -> HttpResponse:
    """The signed-in user's images: the search form, a page of cards, the bulk bar."""
    search_form = search_form_for(request.user, request.GET)
    images, searching = search_results(request.user, search_form)
    if search_form.errors:
        status = 400
    page = Paginator(images, _page_size(request, search_form)).get_page(request.GET.get("page"))
    watch = _watch_value([image for image in page if not image.is_final])
    has_images = searching or page.paginator.count > 0
    return render(
        request,
        "captions/gallery.html",
        {
            "form": form,
            "has_images": has_images,
            "images_heading": "h1" if has_images else "h2",
            "search_form": search_form,
            "searching": searching,
            "query_string": search_query_string(search_form),
            "search_q": search_form.cleaned_data.get("q", "") if search_form.is_bound and search_form.is_valid() else "",
            "search_keys": list(search_form.fields),
            "bulk_limit": BULK_LIMIT,
            "recaption_form": BulkRecaptionForm(model_choices=selectors.caption_model_choices(), auto_id="bulk-%s"),
            "page": page,
            "watch": watch,
            "progress": selectors.unfinished_work_for(request.user) if watch else None,
            **_upload_limits(),
        },
        status=status,
    )


@csrf_exempt  # checked by _upload: the CSRF check reads the body, after which its upload handlers are set
def upload(request: HttpRequest) -> HttpResponse:
    """The upload form on its own page (GET) and its POST; an upload's .zip archives may be as
    large as BATCH_MAX_ZIP_BYTES."""
    if request.method == "POST":
        archive_upload_handlers_install(request)
    return _upload(request)


@csrf_protect
@login_required
def _upload(request: HttpRequest) -> HttpResponse:
    """POST: an upload, answered with a redirect to the gallery (post/redirect/get: a reload never
    stores the files twice), or 400 with the form's errors when nothing was stored. The page's
    upload script asks for JSON and gets the API's answer to an upload (POST /api/v1/images/):
    202 {"batch", "images": [...], "refused": [{"filename", "reason"}]}, or 400/413 in the error
    format ({"detail", "code", "errors": {field: [messages]}}, refusals listed in "refused"). A
    style, language or model the request cannot have (or a bad generation setting) is a field
    error (400, nothing stored): in `errors` under the form field's name."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    form = UploadForm(owner=request.user)
    limited = False  # the user's queued-files budget is spent (429)
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES, owner=request.user)
        if form.is_valid():
            oversize = oversize_refusals(request)
            try:
                queue_files_take(owner=request.user, count=len(request.FILES.getlist("images")))
                result = upload_submit(  # .zip archives: their images, as the API's batches
                    owner=request.user,
                    files=request.FILES.getlist("images"),
                    request=form.caption_request,
                    oversize_filenames=oversize,
                    file_alt_text=form.cleaned_data.get("file_alt_text", ""),
                )
            except QueueLimitReached as error:
                form.add_error("images", error.messages[0])
                limited = True
            except UploadRejected as error:
                form.add_error("images", str(error))
            else:
                if result.accepted:
                    messages.success(request, _queued_notice(len(result.accepted)))
                    for refusal in result.refused:
                        messages.error(request, f"{refusal.filename} was not stored: {refusal.reason}")
                if _wants_json(request):
                    body, status_code = submit_answer(request, result, oversize=oversize)
                    return JsonResponse(body, status=status_code)
                if result.accepted:
                    return redirect("captions:gallery")
                for refusal in result.refused:
                    form.add_error("images", f"{refusal.filename}: {refusal.reason}")
        if _wants_json(request):
            return _form_error_json(form, status=429 if limited else 400)
    # Only a POST that stored nothing comes here with errors (400): nothing to repeat on reload.
    status = 429 if limited else 400 if form.errors else 200
    return render(request, "captions/upload.html", {"form": form, **_upload_limits()}, status=status)


def _page_size(request: HttpRequest, search_form: ImageSearchForm) -> int:
    """The page size asked for (then remembered in the session), else the remembered one."""
    asked = search_form.cleaned_data.get("size") if search_form.is_bound and search_form.is_valid() else None
    if asked in PAGE_SIZES:
        request.session[PAGE_SIZE_SESSION_KEY] = asked
        return asked
    remembered = request.session.get(PAGE_SIZE_SESSION_KEY)
    return remembered if remembered in PAGE_SIZES else GALLERY_PAGE_SIZE


def search_results(user, search_form: ImageSearchForm):
    """(images, searching): the search's images (all of the user's when the form is unbound or
    invalid; the page shows the form's errors then) and whether anything narrows them."""
    if search_form.is_bound and search_form.is_valid():
        ordering = search_form.cleaned_data.get("sort") or ("relevance" if search_form.cleaned_data.get("q") else "newest")
        try:
            images = selectors.images_search_for(
                user, search_form.cleaned_data.get("q", ""), search_form.filters(), ordering,
                search_form.cleaned_data.get("mode") or "",
            )
        except (selectors.SemanticSearchUnavailable, ModelLoadError) as error:
            search_form.add_error("mode", str(error) if isinstance(error, ValueError)
                                  else "Semantic search is unavailable now; choose Keyword.")
            return selectors.gallery_images_for(user), False
        return images, search_form.is_search()
    return selectors.gallery_images_for(user), False


def search_query_string(search_form: ImageSearchForm) -> str:
    """The search as a query string without the page number (for the pager and the bulk form)."""
    if not search_form.is_bound:
        return ""
    return urlencode([(k, v) for k, v in search_form.data.items() if k in search_form.fields and v])


MAX_WATCHED = max(PAGE_SIZES)  # every unfinished card of the largest page


def _watch_value(images) -> str:
    """The poll's state: "public_id:status,..." for the unfinished cards on the page."""
    return ",".join(f"{image.public_id}:{image.status}" for image in images)


def _parse_watch(value: str) -> dict[str, str]:
    """{public_id: status as last shown}; raises ValueError on a malformed value."""
    watched: dict[str, str] = {}
    for item in filter(None, value.split(",")):
        public_id, _, status = item.partition(":")
        uuid.UUID(public_id)  # ValueError when it is not one
        if status not in Image.Status.values:
            raise ValueError(status)
        watched[public_id] = status
    if len(watched) > MAX_WATCHED:
        raise ValueError("too many")
    return watched


@login_required
@require_GET
def gallery_poll(request: HttpRequest) -> HttpResponse:
    """The gallery's one poll (every few seconds while some card on the page is unfinished):
    ?watch=public_id:status,... names the cards and the status each shows; ?since=ISO datetime
    fixes the start of the summary's count. The answer is the
    progress summary ("12 of 40 done") with the next poll, plus an out-of-band swap for every
    watched card whose status changed; no next poll once all are final."""
    try:
        watched = _parse_watch(request.GET.get("watch", ""))
    except ValueError:
        return HttpResponse(
            f"watch must be up to {MAX_WATCHED} items of public_id:status, separated by commas.",
            status=400,
            content_type="text/plain",
        )
    since = parse_datetime(request.GET.get("since", "")) if request.GET.get("since") else None
    if request.GET.get("since") and (since is None or since.tzinfo is None):
        return HttpResponse("since must be an ISO 8601 date and time with its offset.", status=400, content_type="text/plain")
    images = list(selectors.images_by_public_id_for(request.user, watched))
    changed = [image for image in images if image.status != watched[str(image.public_id)]]
    watch = _watch_value([image for image in images if not image.is_final])
    return render(
        request,
        "captions/_gallery_poll.html",
        {
            "changed": changed,
            "search_q": "",  # a card that changed state is shown without search marks
            "watch": watch,
            "progress": selectors.unfinished_work_for(request.user, since=since),
        },
    )


@login_required
@require_GET
def image_card(request: HttpRequest, public_id) -> HttpResponse:
    image = selectors.image_for(request.user, public_id)
    return render(request, "captions/_image_card.html", {"image": image, "search_q": ""})


@login_required
@require_GET
def image_detail(request: HttpRequest, public_id) -> HttpResponse:
    """One image; its query string is the gallery search it was opened from (search, filters,
    sort, page size), which gives previous / next within that list and a way back to its page."""
    image = selectors.image_for(request.user, public_id)
    history = selectors.caption_history_for(image)
    alt = selectors.alt_text_state(image)
    form = AltSettingsForm(initial={"purpose": alt["purpose"], "context": alt["context"], "action": alt["action"]})
    return render(request, "captions/image_detail.html", {
        "image": image, "caption": image.current_caption, "history": history, "alt": alt, "alt_form": form,
        "walk": _walk(request, image),
    })


WALK_LIMIT = 10_000  # the longest list walked image by image (ids only)


def _walk(request: HttpRequest, image: Image) -> dict:
    """back_url, and where the list has the image: position, total, prev_url, next_url."""
    search_form = search_form_for(request.user, request.GET)
    images, _ = search_results(request.user, search_form)
    query = search_query_string(search_form) if search_form.is_valid() else ""
    gallery_url = reverse("captions:gallery")
    walk = {"back_url": f"{gallery_url}?{query}" if query else gallery_url, "query": query}
    ids = list(images.values_list("public_id", flat=True)[:WALK_LIMIT])
    if image.public_id not in ids:
        return walk
    at = ids.index(image.public_id)
    page = at // _page_size(request, search_form) + 1
    suffix = f"?{query}" if query else ""
    if page > 1:
        walk["back_url"] = f"{gallery_url}?{query + '&' if query else ''}page={page}"
    walk["back_url"] += f"#image-{image.public_id}"
    walk.update(position=at + 1, total=len(ids))
    if at > 0:
        walk["prev_url"] = reverse("captions:image_detail", args=[ids[at - 1]]) + suffix
    if at + 1 < len(ids):
        walk["next_url"] = reverse("captions:image_detail", args=[ids[at + 1]]) + suffix
    return walk


@login_required
@require_POST
def image_alt_settings(request: HttpRequest, public_id) -> HttpResponse:
    """Change the image's purpose, context and link action (the image page's form): decorative
    is done at once; another change queues a new caption (a person's text stays current)."""
    from captions.services.alttext import image_alt_request_set

    image = selectors.image_for(request.user, public_id)
    form = AltSettingsForm(request.POST)
    back = redirect(reverse("captions:image_detail", args=[image.public_id]))
    if not form.is_valid():
        messages.error(request, "Nothing was changed. " + " ".join(
            f"{form.fields[name].label if name in form.fields else ''}: {m}" for name, ms in form.errors.items() for m in ms))
        return back
    try:
        outcome = image_alt_request_set(image=image, **{k: form.cleaned_data.get(k) or "" for k in ("purpose", "context", "action")})
    except ValidationError as error:
        messages.error(request, "Nothing was changed. " + " ".join(
            f"{name}: {m}" for name, ms in error.message_dict.items() for m in ms))
        return back
    messages.success(request, {
        "decorative": "Marked decorative: its alt text is empty (alt=\"\").",
        "queued": "Saved; the image is queued for a new caption with these settings.",
        "saved": "Saved; the caption being written uses these settings at its next attempt.",
        "unchanged": "Nothing changed.",
    }[outcome])
    return back


@login_required
@require_POST
def image_suggestion_use(request: HttpRequest, public_id, caption_id: int) -> HttpResponse:
    """Make a kept model suggestion the image's alt text (the owner's explicit choice)."""
    from captions.services.editing import caption_suggestion_use

    image = selectors.image_for(request.user, public_id)
    caption = get_object_or_404(image.captions, pk=caption_id)
    caption_suggestion_use(image=image, caption=caption)
    messages.success(request, "The suggestion is now the alt text.")
    return redirect(reverse("captions:image_detail", args=[image.public_id]))


@login_required
@require_POST
def image_retry(request: HttpRequest, public_id) -> HttpResponse:
    """Queue a failed image again (the detail page's Retry button and a failed gallery card's);
    back to `next` (a path on this site: the gallery for a card) or to the image's page."""
    image = selectors.image_for(request.user, public_id)
    try:
        queue.image_retry(image=image)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{image.original_filename} was queued again.")
    return redirect(safe_next(request) or reverse("captions:image_detail", args=[image.public_id]))


@login_required
@require_POST
def image_delete(request: HttpRequest, public_id) -> HttpResponse:
    image = selectors.image_for(request.user, public_id)
    name = image.original_filename
    queue.image_delete(image=image)
    messages.success(request, f"{name} was deleted.")
    return redirect("captions:gallery")


@login_required
@require_GET
def image_file(request: HttpRequest, public_id, variant: str) -> FileResponse:
    """Images are private: they are served only to their owner, never from a public media URL."""
    image = selectors.image_for(request.user, public_id)
    return image_file_response(image, variant)


BULK_ACTIONS = ("retry", "recaption", "delete", "export")


def _export_download(images, query, stem: str) -> HttpResponse:
    """The export a query asks for (format: a key of exports.EXPORT_FORMATS, and the
    ExportOptions parameters): 400 with the reason for a bad value, 503 naming the tool when
    the format needs one that is not installed."""
    fmt = query.get("format") or exports.DEFAULT_EXPORT_FORMAT
    if fmt not in exports.EXPORT_FORMATS:
        names = ", ".join(exports.EXPORT_FORMATS)
        return HttpResponse(f"format must be one of {names}.", status=400, content_type="text/plain")
    try:
        options = exports.ExportOptions.from_query(query)
        return export_response(images, fmt, stem, options)
    except ValueError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain")
    except embedding.MetadataToolMissing as error:
        return HttpResponse(str(error), status=503, content_type="text/plain")


def _back_to_gallery(request: HttpRequest) -> HttpResponse:
    query = request.POST.get("back", "")
    return redirect(reverse("captions:gallery") + (f"?{query}" if query and "\n" not in query else ""))


@login_required
@require_POST
def images_bulk(request: HttpRequest) -> HttpResponse:
    """One action on the gallery's selection (the ticked images, or all=1: every image the
    search finds): retry, recaption (with the form's model and settings), delete (first a page
    that says how many and asks; confirm=1 deletes) or export (format csv, json or html). A
    change answers with a redirect back to the search; a refused one too, with the reason."""
    action = request.POST.get("action", "")
    if action not in BULK_ACTIONS:
        messages.error(request, "Choose what to do with the selected images.")
        return _back_to_gallery(request)
    try:
        images = selected_images_for(request.user, request.POST)
        count = images.count()
        if action == "export":
            if request.POST.get("format", exports.DEFAULT_EXPORT_FORMAT) not in exports.EXPORT_FORMATS:
                raise ValidationError("Export as " + ", ".join(f.label for f in exports.EXPORT_FORMATS.values()) + ".")
            if count > BULK_LIMIT:
                raise ValidationError(f"{count} images are selected; at most {BULK_LIMIT} can be exported at once.")
            return _export_download(images, request.POST, "selection")
        if action == "delete" and request.POST.get("confirm") != "1":
            if count == 0:
                raise ValidationError("Select at least one image.")
            return render(request, "captions/bulk_confirm.html", {
                "count": count, "names": [i.original_filename for i in images[:10]], "post": request.POST,
                "too_many": count > BULK_LIMIT, "bulk_limit": BULK_LIMIT,
            })
        if action in ("retry", "recaption"):
            queue_files_take(owner=request.user, count=min(count, BULK_LIMIT))
        if action == "retry":
            done = images_bulk_retry(owner=request.user, images=images)
            notice = f"{done} failed image{'s' if done != 1 else ''} queued again."
        elif action == "recaption":
            form = BulkRecaptionForm(request.POST, model_choices=selectors.caption_model_choices(), owner=request.user)
            if not form.is_valid():
                raise ValidationError("Nothing was queued. " + form.error_text(form.errors))
            done = images_bulk_recaption(owner=request.user, images=images, request=form.caption_request,
                                         replace_human=form.cleaned_data["replace_human"])
            notice = f"{done} image{'s' if done != 1 else ''} queued for a new caption."
        else:
            done = images_bulk_delete(owner=request.user, images=images)
            notice = f"{done} image{'s were' if done != 1 else ' was'} deleted."
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return _back_to_gallery(request)
    messages.success(request, notice)
    return _back_to_gallery(request)


@login_required
@require_GET
def batch_list(request: HttpRequest) -> HttpResponse:
    """The user's uploads (batches), newest first, with counts by status and progress."""
    page = Paginator(selectors.batches_for(request.user), 25).get_page(request.GET.get("page"))
    coverage = selectors.alt_coverage(selectors.gallery_images_for(request.user))
    loose = 0 if page.object_list else selectors.gallery_images_for(request.user).filter(batch__isnull=True).count()
    return render(request, "captions/batches.html", {"page": page, "coverage": coverage, "loose_images": loose})


@login_required
@require_GET
def batch_detail(request: HttpRequest, batch_id: int) -> HttpResponse:
    """One upload: its progress, its images and the alt-text export links."""
    batch = selectors.batch_for(request.user, batch_id)
    progress = selectors.batch_progress(batch)
    page = Paginator(selectors.images_search_for(request.user, "", selectors.ImageFilters(batch_id=batch.pk), "oldest"),
                     GALLERY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "captions/batch_detail.html", {"batch": batch, "progress": progress, "page": page,
                                                          "coverage_query": f"batch={batch.pk}"})


@login_required
@require_GET
def batch_export(request: HttpRequest, batch_id: int) -> HttpResponse:
    """The batch's alt text in a format of exports.EXPORT_FORMATS (?format=, csv by default)."""
    batch = selectors.batch_for(request.user, batch_id)
    return _export_download(batch.images.all(), request.GET, f"batch-{batch.pk}")


@login_required
@require_GET
def image_download(request: HttpRequest, public_id) -> HttpResponse:
    """The image's file with its alt text embedded (a GIF or BMP: a zip with its XMP sidecar);
    the stored original is not changed. 503 naming the tool when it is not installed."""
    image = selectors.image_for(request.user, public_id)
    try:
        return image_with_alt_text_response(image, exports.ExportOptions.from_query(request.GET))
    except ValueError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain")
    except embedding.MetadataToolMissing as error:
        return HttpResponse(str(error), status=503, content_type="text/plain")
