from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from captions import selectors, services
from captions.forms import UploadForm
from captions.responses import image_file_response
from captions.uploads import oversize_refusals

GALLERY_PAGE_SIZE = 24


@login_required
def gallery(request: HttpRequest) -> HttpResponse:
    form = UploadForm()
    accepted_any = False
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                result = services.image_submit(
                    owner=request.user,
                    files=request.FILES.getlist("images"),
                    params=form.generation_params(),
                    model_spec=form.model_spec(),
                    oversize_filenames=oversize_refusals(request),
                )
            except services.UploadRejected as error:
                form.add_error("images", str(error))
            except ValidationError as error:
                for field, errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                accepted_any = bool(result.accepted)
                if result.accepted:
                    count = len(result.accepted)
                    messages.success(request, f"{count} image{'s' if count != 1 else ''} queued for captioning.")
                for refusal in result.refused:
                    form.add_error("images", f"{refusal.filename}: {refusal.reason}")
                if not result.refused:
                    return redirect("captions:gallery")
    # A partly refused upload still created images (200); one that stored nothing is a 400.
    status = 400 if form.errors and not accepted_any else 200
    page = Paginator(selectors.gallery_images_for(request.user), GALLERY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "captions/gallery.html",
        {"form": form, "page": page},
        status=status,
    )


@login_required
@require_GET
def image_card(request: HttpRequest, public_id) -> HttpResponse:
    image = selectors.image_for(request.user, public_id)
    return render(request, "captions/_image_card.html", {"image": image})


@login_required
@require_GET
def image_detail(request: HttpRequest, public_id) -> HttpResponse:
    image = selectors.image_for(request.user, public_id)
    history = selectors.caption_history_for(image)
    return render(request, "captions/image_detail.html", {"image": image, "caption": image.current_caption, "history": history})


@login_required
@require_POST
def image_retry(request: HttpRequest, public_id) -> HttpResponse:
    image = selectors.image_for(request.user, public_id)
    try:
        services.image_retry(image=image)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{image.original_filename} was queued again.")
    return redirect("captions:image_detail", public_id=image.public_id)


@login_required
@require_POST
def image_delete(request: HttpRequest, public_id) -> HttpResponse:
    image = selectors.image_for(request.user, public_id)
    name = image.original_filename
    services.image_delete(image=image)
    messages.success(request, f"{name} was deleted.")
    return redirect("captions:gallery")


@login_required
@require_GET
def image_file(request: HttpRequest, public_id, variant: str) -> FileResponse:
    """Images are private: they are served only to their owner, never from a public media URL."""
    image = selectors.image_for(request.user, public_id)
    return image_file_response(image, variant)
