from django.http import FileResponse, Http404

from captions.models import Image


def image_file_response(image: Image, variant: str) -> FileResponse:
    """The stored original or thumbnail, for a caller whose access the view has already checked.
    Images are private, so they are never served from a public media URL and never cached by proxies."""
    stored = image.thumbnail if variant == "thumbnail" else image.file
    try:
        handle = stored.open("rb")
    except (FileNotFoundError, ValueError):
        raise Http404("The image file is missing.") from None
    response = FileResponse(handle)
    response["Cache-Control"] = "private, max-age=86400"
    return response
