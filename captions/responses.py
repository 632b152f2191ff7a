from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect

from captions.models import Image
from captions.services.media import media_on_local_disk, storage_error


def image_file_response(image: Image, variant: str) -> HttpResponse:
    """The stored original or thumbnail, for a caller whose access the view has already checked.
    Images are private, so they are never served from a public media URL and never cached by proxies.

    From a bucket with MEDIA_SERVE=redirect: a redirect to a presigned URL valid
    MEDIA_URL_EXPIRE_SECONDS (the bytes then skip the web worker); otherwise streamed through the
    site. The storage down is a 503 (core.exceptions.StorageUnavailable), a missing file a 404."""
    stored = image.thumbnail if variant == "thumbnail" else image.file
    if not stored.name:
        raise Http404("The image file is missing.")
    if settings.MEDIA_SERVE == "redirect" and not media_on_local_disk():
        try:
            url = default_storage.url(stored.name, expire=settings.MEDIA_URL_EXPIRE_SECONDS)
        except Exception as error:
            raise storage_error(error, f"sign a URL for {stored.name}") from None
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = "private, no-store"  # the URL expires; never reuse the redirect
        return response
    try:
        handle = stored.open("rb")
    except (FileNotFoundError, ValueError):
        raise Http404("The image file is missing.") from None
    except Exception as error:
        if _is_missing(error):
            raise Http404("The image file is missing.") from None
        raise storage_error(error, f"read {stored.name}") from None
    response = FileResponse(handle)
    response["Cache-Control"] = "private, max-age=86400"
    return response


def _is_missing(error: Exception) -> bool:
    response = getattr(error, "response", None)
    return isinstance(response, dict) and str(response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound")
