"""Batches: many images (or .zip archives of images) at once, the list of them, their progress
and the alt-text export."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from captions import embedding, exports, selectors
from captions.api.common import (
    AnyFileField,
    BatchMultiPartParser,
    CaptionRequestFields,
    FileAltTextField,
    SubmitResultSerializer,
    idempotent_upload,
    queue_files_take_or_429,
)
from captions.api.images import ACCEPTED_EXAMPLE, UPLOAD_ERRORS
from captions.models import Image
from captions.responses import export_response
from captions.services.submission import batch_submit, oversize_archives_refused
from captions.uploads import oversize_refusals
from core.api import MAX_PAGE_NUMBER, Pagination, error_responses, paginated, paginated_response, rate_limit
from core.exceptions import ToolMissing
from core.serializers import StrictSerializer


class BatchCreateInputSerializer(CaptionRequestFields):
    files = serializers.ListField(
        child=AnyFileField(),
        required=False,
        help_text=(
            "Images and/or .zip archives of images (repeat the field). Each archive member is "
            "checked like an uploaded file; a batch holds at most MAX_FILES_PER_UPLOAD images."
        ),
    )
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    file_alt_text = FileAltTextField()


class BatchCreateApi(APIView):
    """Upload many images as one batch, to follow and export them together."""

    parser_classes = [BatchMultiPartParser]
    throttle_classes = [rate_limit("batches", "API_RATE_BATCH", key="user")]

    @extend_schema(
        operation_id="batches_create",
        tags=["batches"],
        request={"multipart/form-data": BatchCreateInputSerializer},
        responses={202: SubmitResultSerializer, **UPLOAD_ERRORS, **error_responses(401, 415, 429)},
        examples=[ACCEPTED_EXAMPLE],
    )
    def post(self, request):
        def submit():
            serializer = BatchCreateInputSerializer(data=request.data, context={"owner": request.user})
            serializer.is_valid(raise_exception=True)
            queue_files_take_or_429(request, len(serializer.validated_data.get("files", []))
                                    + len(oversize_refusals(request)))
            # A dropped archive is named with its own limit, not the per-image one.
            refused, oversize_images = oversize_archives_refused(oversize_refusals(request))
            return batch_submit(
                owner=request.user,
                files=serializer.validated_data.get("files", []),
                request=serializer.validated_data["caption_request"],
                file_alt_text=serializer.validated_data.get("file_alt_text", ""),
                name=serializer.validated_data.get("name", ""),
                oversize_filenames=oversize_images,
                refused=refused,
            )

        return idempotent_upload(request, endpoint="batches_create", submit=submit)


class CoverageSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    with_alt_text = serializers.IntegerField(help_text="A caption, or decorative (an intended empty alt).")
    reviewed = serializers.IntegerField(help_text="A person wrote or approved the alt text.")
    with_warnings = serializers.IntegerField(help_text="The alt-text checker found something.")
    decorative = serializers.IntegerField()
    with_alt_text_share = serializers.FloatField()
    reviewed_share = serializers.FloatField()
    with_warnings_share = serializers.FloatField()
    decorative_share = serializers.FloatField()
    warnings_by_rule = serializers.DictField(child=serializers.IntegerField(), required=False,
                                             help_text="Images per checker rule.")


class BatchSerializer(serializers.Serializer):
    class CountsSerializer(serializers.Serializer):
        queued = serializers.IntegerField()
        processing = serializers.IntegerField()
        done = serializers.IntegerField()
        failed = serializers.IntegerField()

    id = serializers.IntegerField(source="batch.pk")
    name = serializers.CharField(source="batch.name")
    created_at = serializers.DateTimeField(source="batch.created_at")
    total = serializers.IntegerField()
    counts = CountsSerializer(help_text="Images per status.")
    finished = serializers.BooleanField(help_text="No image is queued or processing any more.")
    needs_review = serializers.IntegerField(help_text="Captions below the review threshold.")
    coverage = CoverageSerializer(help_text="How much of the batch has good, reviewed alt text.")
    images_url = serializers.SerializerMethodField()
    export_url = serializers.SerializerMethodField()

    def _url(self, name: str, batch) -> str:
        return self.context["request"].build_absolute_uri(reverse(name, kwargs={"batch_id": batch.pk}))

    def get_images_url(self, progress) -> str:
        return self.context["request"].build_absolute_uri(reverse("api:images") + f"?batch={progress['batch'].pk}")

    def get_export_url(self, progress) -> str:
        return self._url("api:batch-export", progress["batch"]) + "?format=csv"


class BatchListItemSerializer(serializers.Serializer):
    """One batch of the list, from captions.selectors.batches_for (annotated counts)."""

    class BatchListCountsSerializer(serializers.Serializer):
        queued = serializers.IntegerField(source="n_queued")
        processing = serializers.IntegerField(source="n_processing")
        done = serializers.IntegerField(source="n_done")
        failed = serializers.IntegerField(source="n_failed")

    id = serializers.IntegerField(source="pk")
    name = serializers.CharField(help_text="Empty when the upload was not named.")
    created_at = serializers.DateTimeField()
    total = serializers.IntegerField(source="n_total", help_text="Images in the batch.")
    counts = BatchListCountsSerializer(source="*", help_text="Images per status.")
    finished = serializers.SerializerMethodField(help_text="No image is queued or processing any more.")
    needs_review = serializers.IntegerField(source="n_needs_review", help_text="Captions below the review threshold.")
    url = serializers.SerializerMethodField(help_text="The batch's progress.")
    export_url = serializers.SerializerMethodField(help_text="Its alt text as CSV (format=json or html for the others).")

    def get_finished(self, batch) -> bool:
        return batch.n_queued + batch.n_processing == 0

    def get_url(self, batch) -> str:
        return self.context["request"].build_absolute_uri(reverse("api:batch-detail", kwargs={"batch_id": batch.pk}))

    def get_export_url(self, batch) -> str:
        return self.context["request"].build_absolute_uri(
            reverse("api:batch-export", kwargs={"batch_id": batch.pk})) + "?format=csv"


class BatchListQuerySerializer(StrictSerializer):
    page = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_PAGE_NUMBER, help_text="Page number, from 1."
    )
    page_size = serializers.IntegerField(
        required=False, min_value=1, max_value=Pagination.max_page_size, help_text="Items per page."
    )


class BatchListApi(APIView):
    """The caller's batches, newest first, with their images counted by status."""

    @extend_schema(
        operation_id="batches_list",
        tags=["batches"],
        parameters=[BatchListQuerySerializer],
        responses={200: paginated(BatchListItemSerializer), **error_responses(400, 401, 404)},
        examples=[OpenApiExample("A batch", response_only=True, status_codes=["200"], value={
            "count": 1, "next": None, "previous": None,
            "results": [{"id": 12, "name": "Holiday", "created_at": "2026-01-05T10:12:01Z", "total": 40,
                         "counts": {"queued": 10, "processing": 2, "done": 27, "failed": 1}, "finished": False,
                         "needs_review": 3, "url": "https://captions.example.com/api/v1/batches/12/",
                         "export_url": "https://captions.example.com/api/v1/batches/12/export?format=csv"}],
        })],
    )
    def get(self, request):
        BatchListQuerySerializer(data=request.query_params).is_valid(raise_exception=True)
        return paginated_response(request, self, selectors.batches_for(request.user), BatchListItemSerializer)


class BatchDetailApi(APIView):
    """A batch's progress: how many of its images are in each status."""

    @extend_schema(operation_id="batches_retrieve", tags=["batches"], responses={200: BatchSerializer, **error_responses(401, 404)})
    def get(self, request, batch_id: int):
        batch = selectors.batch_for(request.user, batch_id)
        progress = {"batch": batch, **selectors.batch_progress(batch)}
        progress["coverage"]["warnings_by_rule"] = selectors.alt_warning_counts(batch.images.all())
        return Response(BatchSerializer(progress, context={"request": request}).data)


class CoverageApi(APIView):
    """The alt-text coverage of all the caller's images: with alt text, reviewed, with warnings,
    decorative (counts and shares), and images per checker rule."""

    @extend_schema(operation_id="coverage_retrieve", tags=["batches"], responses={200: CoverageSerializer,
                                                                                 **error_responses(401)})
    def get(self, request):
        images = selectors.gallery_images_for(request.user)
        return Response(CoverageSerializer(
            {**selectors.alt_coverage(images), "warnings_by_rule": selectors.alt_warning_counts(images)}).data)


class ExportRowSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    filename = serializers.CharField()
    status = serializers.ChoiceField(choices=Image.Status.choices)
    caption = serializers.CharField(help_text="Empty until captioned.")
    confidence = serializers.FloatField(allow_null=True)
    style = serializers.CharField()
    language = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField(), allow_null=True, help_text="Tags style only.")
    purpose = serializers.CharField()
    decorative = serializers.BooleanField(help_text="True: the caption is empty on purpose (alt=\"\").")
    context = serializers.CharField()
    extended_description = serializers.CharField(help_text="Complex images' long description.")
    source = serializers.CharField(help_text="human-approved | human-edited | file | model (\"\" without caption).")
    reviewed = serializers.BooleanField()
    warnings = serializers.CharField(help_text="The checker's rule names, \"; \"-separated.")
    ocr_text = serializers.CharField(help_text="The text read in the image (Tesseract OCR).")


class ExportQuerySerializer(StrictSerializer):
    """The export's query: its format (exports.EXPORT_FORMATS) and ExportOptions."""

    reject_blank = True
    format = serializers.ChoiceField(
        choices=list(exports.EXPORT_FORMATS), default=exports.DEFAULT_EXPORT_FORMAT,
        help_text=" ".join(f"`{f.name}`: {f.description}" for f in exports.EXPORT_FORMATS.values()))
    bom = serializers.BooleanField(required=False, help_text="CSV: start with a UTF-8 byte-order mark (for Excel).")
    reviewed_only = serializers.BooleanField(
        required=False, help_text="zip: leave out images without a caption or whose caption needs review.")
    dc_description = serializers.BooleanField(
        required=False, help_text="zip: also write dc:description (default: ALT_TEXT_EMBED_DC_DESCRIPTION).")
    legacy_fields = serializers.BooleanField(
        required=False,
        help_text="zip: also write IPTC-IIM Caption-Abstract and EXIF ImageDescription (default: ALT_TEXT_EMBED_LEGACY_FIELDS).")

    def export_options(self) -> exports.ExportOptions:
        # Only the options the query names: DRF reads a boolean missing from a query string as
        # false, which would override the site's defaults (ALT_TEXT_EMBED_*).
        return exports.ExportOptions.from_query({
            name: "1" if value else "0" for name, value in self.validated_data.items()
            if name != "format" and name in self.initial_data})


def export_responses() -> dict:
    """The export's 200 answers, one per format's media type (from the table)."""
    answers = {}
    for export_format in exports.EXPORT_FORMATS.values():
        media_type = export_format.media_type.split(";")[0]
        body = ExportRowSerializer(many=True) if media_type == "application/json" else (
            OpenApiTypes.BINARY if export_format.needs_metadata_tool else OpenApiTypes.STR)
        answers[(200, media_type)] = OpenApiResponse(body, description=export_format.description)
    return answers


def export_api_response(images, query: ExportQuerySerializer, stem: str):
    try:
        return export_response(images, query.validated_data["format"], stem, query.export_options())
    except embedding.MetadataToolMissing as error:
        raise ToolMissing(str(error)) from None


class FirstRenderer(BaseContentNegotiation):
    """The export picks its format from ?format=, whatever the Accept header says."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class BatchExportApi(APIView):
    """The batch's captions as alt text: filename, caption, confidence per image (CSV or JSON)."""

    content_negotiation_class = FirstRenderer

    @extend_schema(
        operation_id="batches_export",
        tags=["batches"],
        parameters=[ExportQuerySerializer],
        responses={**export_responses(), **error_responses(400, 401, 404, 503)},
        examples=[
            OpenApiExample(
                "JSON",
                response_only=True,
                media_type="application/json",
                value=[{"id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "filename": "beach.jpg", "status": "done",
                        "caption": "a dog running on a beach", "confidence": 0.83}],
            )
        ],
    )
    def get(self, request, batch_id: int):
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        batch = selectors.batch_for(request.user, batch_id)
        return export_api_response(batch.images.all(), query, f"batch-{batch.pk}")
