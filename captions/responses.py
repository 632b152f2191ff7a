from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.utils.http import content_disposition_header

from captions import embedding, exports, selectors
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


def _attachment(response: HttpResponse | StreamingHttpResponse, filename: str):
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "private, no-store"
    return response


def export_response(images: QuerySet[Image], fmt: str, stem: str,
                    options: exports.ExportOptions) -> HttpResponse | StreamingHttpResponse:
    """The export of images in the format fmt (a key of exports.EXPORT_FORMATS, checked by the
    caller) as a streamed download named exports.download_filename(stem, fmt). Raises
    embedding.MetadataToolMissing before anything is sent when the format needs it."""
    export_format = exports.EXPORT_FORMATS[fmt]
    if export_format.needs_metadata_tool and not embedding.tool_available():
        raise embedding.MetadataToolMissing()
    chunks = export_format.render(images, options)
    if export_format.streaming:
        response = StreamingHttpResponse(chunks, content_type=export_format.media_type)
    else:
        response = HttpResponse(b"".join(chunks), content_type=export_format.media_type)
    return _attachment(response, exports.download_filename(stem, fmt))


def image_with_alt_text_response(image: Image, options: exports.ExportOptions) -> HttpResponse:
    """One image's file with its alt text embedded, under its uploaded name; a GIF or BMP (no XMP
    in the file) as a zip of the file and its XMP sidecar. Raises embedding.MetadataToolMissing,
    Http404 (the stored file is missing)."""
    if not embedding.tool_available():
        raise embedding.MetadataToolMissing()
    item = next(selectors.images_embed_items(Image.objects.filter(pk=image.pk)))
    name = exports.member_name(image.original_filename, set()).rsplit("/", 1)[-1]
    try:
        data, sidecar = exports.embedded_file(item, options)
    except (OSError, ValueError):
        raise Http404("The image file is missing.") from None
    if sidecar is None:
        content_type = f"image/{image.format.lower()}"
        return _attachment(HttpResponse(data, content_type=content_type), name)
    stem = name.rsplit(".", 1)[0]
    response = StreamingHttpResponse(exports.file_and_sidecar_zip(name, data, sidecar), content_type="application/zip")
    return _attachment(response, f"{stem}-with-alt-text.zip")


def _is_missing(error: Exception) -> bool:
    response = getattr(error, "response", None)
    return isinstance(response, dict) and str(response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound")
