"""Streaming upload limits: a file over MAX_UPLOAD_BYTES is dropped while it arrives.

Django reads multipart bodies chunk by chunk through these handlers, so an oversize file is
never read whole nor written to disk. The refused file's name is kept on the request so the
form or the API can name it in its answer while the other files of the upload go through.
"""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest


def oversize_refusals(request: HttpRequest) -> list[str]:
    """Names of the files dropped from this request for exceeding MAX_UPLOAD_BYTES."""
    return list(getattr(request, "_oversize_uploads", []))


class SizeLimitedUploadHandler(FileUploadHandler):
    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self._received = 0

    def byte_limit(self, file_name: str) -> int:
        """The most bytes this file may have; views with other limits override this."""
        return settings.MAX_UPLOAD_BYTES

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self._received += len(raw_data)
        if self._received > self.byte_limit(self.file_name or ""):
            refused = getattr(self.request, "_oversize_uploads", None)
            if refused is None:
                refused = self.request._oversize_uploads = []
            refused.append(self.file_name or "(unnamed file)")
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size: int):
        return None
