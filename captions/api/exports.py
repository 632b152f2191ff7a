"""Downloads through the API: one image with its alt text embedded, and the export of a selection
(ids, or the image list's filters) in any format of captions.exports.EXPORT_FORMATS."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.views import APIView

from captions import embedding, exports, selectors
from captions.api.batches import (
    ExportQuerySerializer,
    FirstRenderer,
    export_api_response,
    export_responses,
)
from captions.api.images import ImageFilterSerializer
from captions.responses import image_with_alt_text_response
from captions.services.bulk import BULK_LIMIT
from core.api import error_responses
from core.exceptions import ToolMissing
from core.serializers import UUIDStringField


class EmbedQuerySerializer(ExportQuerySerializer):
    """One image's download: the metadata options only."""

    format = None
    bom = None
    reviewed_only = None


class ImageDownloadApi(APIView):
    """The image's file with its alt text embedded: IPTC Alt Text (Accessibility) in every
    language the image has a caption in (x-default: the current caption), dc:description by
    default, Extended Description where one exists. GIF and BMP carry no XMP: a zip of the file
    and its XMP sidecar. The stored original is not changed."""

    content_negotiation_class = FirstRenderer

    @extend_schema(
        operation_id="images_download",
        tags=["images"],
        parameters=[EmbedQuerySerializer],
        responses={
            (200, "image/jpeg"): OpenApiResponse(OpenApiTypes.BINARY, description="JPEG, PNG, WebP or TIFF with its alt text."),
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY),
            (200, "image/webp"): OpenApiResponse(OpenApiTypes.BINARY),
            (200, "image/tiff"): OpenApiResponse(OpenApiTypes.BINARY),
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="GIF or BMP and its XMP sidecar."),
            **error_responses(400, 401, 404, 503),
        },
    )
    def get(self, request, public_id):
        query = EmbedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        image = selectors.image_for(request.user, public_id)
        try:
            return image_with_alt_text_response(image, query.export_options())
        except embedding.MetadataToolMissing as error:
            raise ToolMissing(str(error)) from None


def images_selected_for(user, data: dict):
    """The user's images a validated selection names: `ids` when given, else every image the
    image list's filters (search, status, needs_review, batch, model, rating, created_after,
    created_before) find, oldest first."""
    if data.get("ids"):
        return selectors.images_by_public_id_for(user, data["ids"])
    return selectors.images_search_for(
        user,
        data.get("search", ""),
        selectors.ImageFilters(
            status=data.get("status"),
            needs_review=data.get("needs_review"),
            batch_id=data.get("batch"),
            model_id=data.get("model") or None,
            rating=data.get("rating"),
            created_after=data.get("created_after"),
            created_before=data.get("created_before"),
        ),
        "oldest",
    )


# Ids in a query string: 100 UUIDs make a URL of about 4,200 characters, within what servers and
# proxies accept (8 KiB is common); larger selections go by filter (a batch, a search).
MAX_QUERY_IDS = 100


class SelectionExportQuerySerializer(ImageFilterSerializer, ExportQuerySerializer):
    """The image list's filters (or ids) and the export's format and options."""

    ids = serializers.ListField(
        child=UUIDStringField(), required=False, max_length=MAX_QUERY_IDS,
        help_text=f"The images to export (repeat the parameter; at most {MAX_QUERY_IDS}, what a URL carries). "
                  f"Without ids: every image the filters find (at most {BULK_LIMIT}).")
    ordering = None
    page = None
    page_size = None

    def export_options(self) -> exports.ExportOptions:
        options = {name: "1" if self.validated_data[name] else "0"
                   for name in ("bom", "reviewed_only", "dc_description", "legacy_fields") if name in self.validated_data}
        return exports.ExportOptions.from_query(options)


class SelectionExportApi(APIView):
    """The alt-text export of a selection: the images named by ids, or every image the image
    list's filters find, at most BULK_LIMIT (as on the website), oldest first."""

    content_negotiation_class = FirstRenderer

    @extend_schema(
        operation_id="images_export",
        tags=["images"],
        parameters=[SelectionExportQuerySerializer],
        responses={**export_responses(), **error_responses(400, 401, 503)},
    )
    def get(self, request):
        query = SelectionExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        images = images_selected_for(request.user, query.validated_data)
        count = images.count()
        if count > BULK_LIMIT:
            raise ValidationError({"detail": f"{count} images are selected; at most {BULK_LIMIT} can be exported at once."})
        return export_api_response(images, query, "selection")
