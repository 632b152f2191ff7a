"""Images: upload, list with filters, detail, delete, retry, caption history."""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from captions import selectors
from captions.api.common import (
    AnyFileField,
    CaptionRequestFields,
    CaptionSerializer,
    FileAltTextField,
    ImageSerializer,
    LimitedMultiPartParser,
    RefusalSerializer,
    SubmitResultSerializer,
    alt_request_fields,
    idempotent_upload,
    queue_files_take_or_429,
)
from captions.models import Image
from captions.search import MAX_QUERY_LENGTH
from captions.selectors import IMAGE_ORDERINGS, SEARCH_MODES
from captions.services.queue import image_delete, image_retry
from captions.services.submission import image_submit
from captions.uploads import oversize_refusals
from core.api import (
    MAX_PAGE_NUMBER,
    PAGE_PARAMETERS,
    ErrorSerializer,
    Pagination,
    error_responses,
    paginated,
    paginated_response,
    rate_limit,
)
from core.exceptions import Conflict, ServiceUnavailable
from core.params import MAX_DB_INT
from core.serializers import OptionalBooleanField, StrictSerializer
from mlcore.errors import ModelLoadError


class UploadErrorSerializer(ErrorSerializer):
    refused = RefusalSerializer(many=True, required=False, help_text="Each refused file and why.")


UPLOAD_ERRORS = {
    400: OpenApiResponse(UploadErrorSerializer, description="Bad parameters, or no file was accepted."),
    413: OpenApiResponse(UploadErrorSerializer, description="Every file, or the request, was too large."),
}

ACCEPTED_EXAMPLE = OpenApiExample(
    "One accepted, one refused",
    status_codes=["202"],
    response_only=True,
    value={
        "batch": 12,
        "images": [
            {
                "id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
                "url": "https://captions.example.com/api/v1/images/1b4e28ba-2fa1-11d2-883f-0016d3cca427/",
                "status": "queued",
                "filename": "beach.jpg",
            }
        ],
        "refused": [{"filename": "notes.txt", "reason": "Not a supported image: accepted formats are JPEG, ..."}],
    },
)


IMAGE_EXAMPLE_VALUE = {
    "id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
    "url": "https://captions.example.com/api/v1/images/1b4e28ba-2fa1-11d2-883f-0016d3cca427/",
    "status": "done",
    "filename": "beach.jpg",
    "batch": None,
    "width": 1024,
    "height": 768,
    "format": "JPEG",
    "byte_size": 183211,
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "params": {"num_beams": 3, "max_length": 40},
    "attempts": 1,
    "error": "",
    "error_kind": "",
    "needs_review": False,
    "caption": {
        "id": 31,
        "text": "a dog running on a beach",
        "confidence": 0.83,
        "alternatives": [{"text": "a dog running on a beach", "score": -0.41}, {"text": "a dog on the sand", "score": -0.77}],
        "source": "model",
        "model_id": "Salesforce/blip-image-captioning-base",
        "model_version": "82a1c2e",
        "needs_review": False,
        "style": "alt",
        "language": "en",
        "prompt": "a picture of ",
        "tags": None,
        "details": {"confidence_source": "model_scores"},
        "params": {"num_beams": 3, "max_length": 40, "style": "alt", "language": "en"},
        "inference_ms": 412.5,
        "timings": {"preprocess_ms": 18.2, "generate_ms": 380.1, "total_ms": 412.5},
        "created_at": "2026-01-05T10:12:03Z",
    },
    "created_at": "2026-01-05T10:12:01Z",
    "finished_at": "2026-01-05T10:12:03Z",
}
IMAGE_EXAMPLE = OpenApiExample("Captioned", value=IMAGE_EXAMPLE_VALUE, response_only=True, status_codes=["200"])


class ImageUploadInputSerializer(CaptionRequestFields):
    files = serializers.ListField(
        child=AnyFileField(), required=False, help_text="One or more images (repeat the field)."
    )
    file_alt_text = FileAltTextField()


class ImageUploadApi(APIView):
    """Upload images for captioning; each file is accepted or refused with its reason."""

    parser_classes = [LimitedMultiPartParser]
    throttle_classes = [rate_limit("images_upload", "API_RATE_UPLOAD", key="user")]

    @extend_schema(
        operation_id="images_upload",
        tags=["images"],
        request={"multipart/form-data": ImageUploadInputSerializer},
        responses={202: SubmitResultSerializer, **UPLOAD_ERRORS, **error_responses(401, 415, 429)},
        examples=[ACCEPTED_EXAMPLE],
    )
    def post(self, request):
        def submit():
            serializer = ImageUploadInputSerializer(data=request.data, context={"owner": request.user})
            serializer.is_valid(raise_exception=True)
            queue_files_take_or_429(request, len(serializer.validated_data.get("files", []))
                                    + len(oversize_refusals(request)))
            return image_submit(
                owner=request.user,
                files=serializer.validated_data.get("files", []),
                request=serializer.validated_data["caption_request"],
                file_alt_text=serializer.validated_data.get("file_alt_text", ""),
                oversize_filenames=oversize_refusals(request),
            )

        return idempotent_upload(request, endpoint="images_upload", submit=submit)


class ImageFilterSerializer(StrictSerializer):
    reject_blank = True
    search = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_QUERY_LENGTH,
        help_text=(
            "Words to find in the file name or any caption's text (human corrections included). In "
            "keyword mode every word must appear, as a word prefix (case, accents and punctuation are "
            "ignored); semantic and combined modes also find alt text of similar meaning (`search_mode`)."
        ),
    )
    search_mode = serializers.ChoiceField(
        choices=list(SEARCH_MODES), required=False,
        help_text="How `search` finds images: keyword (every word, as a word prefix), semantic "
        "(alt text of similar meaning, by sentence embeddings) or combined (both rankings fused). "
        "Default: combined where your images have embeddings, keyword otherwise. Where semantic "
        "search is turned off on the server, keyword is the only choice.",
    )
    ordering = serializers.ChoiceField(
        choices=list(IMAGE_ORDERINGS), required=False, default="newest",
        help_text="newest (default), oldest, confidence (lowest first), name (file name A to Z), "
        "relevance (best match first; needs search).",
    )
    status = serializers.ChoiceField(choices=Image.Status.choices, required=False)
    needs_review = OptionalBooleanField(required=False, help_text="Only images whose caption needs review (or not).")
    has_warnings = OptionalBooleanField(required=False, help_text="Only images whose alt text has checker warnings (or none).")
    reviewed = OptionalBooleanField(required=False, help_text="Only images whose alt text a person wrote or approved (or not).")
    decorative = OptionalBooleanField(required=False, help_text="Only decorative images (or only the others).")
    batch = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_DB_INT, help_text="Only the images of this batch."
    )
    model = serializers.CharField(
        required=False, max_length=300, help_text="Only images whose current caption comes from this model id."
    )
    rating = serializers.IntegerField(
        required=False, min_value=1, max_value=5, help_text="Only images whose current caption you rated so (1 to 5 stars)."
    )
    created_after = serializers.DateTimeField(required=False, help_text="Uploaded at or after (ISO 8601).")
    created_before = serializers.DateTimeField(required=False, help_text="Uploaded before (ISO 8601).")
    page = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_PAGE_NUMBER, help_text="Page number, from 1."
    )
    page_size = serializers.IntegerField(
        required=False, min_value=1, max_value=Pagination.max_page_size, help_text="Items per page."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The modes this server offers now: the schema and the validation follow the setting.
        self.fields["search_mode"].choices = list(selectors.search_modes_available())

    def validate(self, attrs):
        after, before = attrs.get("created_after"), attrs.get("created_before")
        if after and before and after > before:  # equal: an empty window, answered with no images
            raise serializers.ValidationError({"created_before": ["Must not be earlier than created_after."]})
        return attrs


class ImageListApi(APIView):
    """The caller's images, found by words and filters, in the asked order (newest first by default)."""

    @extend_schema(
        operation_id="images_list",
        tags=["images"],
        parameters=[ImageFilterSerializer],
        responses={200: paginated(ImageSerializer), **error_responses(400, 401, 404)},
    )
    def get(self, request):
        filters = ImageFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        try:
            images = self.search(request, data)
        except selectors.SemanticSearchUnavailable as error:
            raise serializers.ValidationError({"search_mode": [str(error)]}) from error
        except ModelLoadError as error:
            raise ServiceUnavailable("Semantic search is unavailable now (its model cannot be loaded); "
                                     "use search_mode=keyword.") from error
        return paginated_response(request, self, images, ImageSerializer)

    @staticmethod
    def search(request, data):
        return selectors.images_search_for(
            request.user,
            data.get("search", ""),
            selectors.ImageFilters(
                status=data.get("status"),
                needs_review=data.get("needs_review"),
                has_warnings=data.get("has_warnings"),
                reviewed=data.get("reviewed"),
                decorative=data.get("decorative"),
                batch_id=data.get("batch"),
                model_id=data.get("model") or None,
                rating=data.get("rating"),
                created_after=data.get("created_after"),
                created_before=data.get("created_before"),
            ),
            data["ordering"],
            data.get("search_mode", ""),
        )


class ImageDetailApi(APIView):
    """One image with its current caption, alternatives, confidence, model and timings."""

    @extend_schema(
        operation_id="images_retrieve",
        tags=["images"],
        responses={200: ImageSerializer, **error_responses(401, 404)},
        examples=[IMAGE_EXAMPLE],
    )
    def get(self, request, public_id):
        image = selectors.image_for(request.user, public_id)
        return Response(ImageSerializer(image, context={"request": request}).data)


class ImageDeleteApi(APIView):
    """Delete the image, its files and all its captions."""

    @extend_schema(operation_id="images_delete", tags=["images"], responses={204: None, **error_responses(401, 404)})
    def delete(self, request, public_id):
        image_delete(image=selectors.image_for(request.user, public_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImageRetryApi(APIView):
    """Queue a failed image again (409 for an image that has not failed)."""

    @extend_schema(
        operation_id="images_retry",
        tags=["images"],
        request=None,
        responses={202: ImageSerializer, **error_responses(401, 404, 409)},
    )
    def post(self, request, public_id):
        image = selectors.image_for(request.user, public_id)
        try:
            image = image_retry(image=image)
        except ValidationError as error:
            raise Conflict(" ".join(error.messages)) from None
        return Response(ImageSerializer(image, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class ImageCaptionsApi(APIView):
    """Every caption the image has had, newest first (model, reused and human ones)."""

    @extend_schema(
        operation_id="images_captions",
        tags=["images"],
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(CaptionSerializer), **error_responses(401, 404)},
    )
    def get(self, request, public_id):
        image = selectors.image_for(request.user, public_id)
        return paginated_response(request, self, selectors.caption_history_for(image), CaptionSerializer)


class ImageRecaptionInputSerializer(CaptionRequestFields):
    replace_human = OptionalBooleanField(
        required=False, help_text="Replace text a person wrote or approved too (needs replace_human_confirm). "
        "Without it such an image keeps its text and gets the new caption as a suggestion.")
    replace_human_confirm = OptionalBooleanField(required=False, help_text="Confirms replace_human.")


class ImageRecaptionApi(APIView):
    """Queue a finished image for a new caption (other settings, model, purpose or context).
    A person's text stays current unless replace_human and replace_human_confirm are both true;
    the new caption is then a suggestion (alt.suggestions). 409 while it is queued or processing."""

    @extend_schema(
        operation_id="images_recaption",
        tags=["images"],
        request=ImageRecaptionInputSerializer,
        responses={202: ImageSerializer, **error_responses(400, 401, 404, 409)},
    )
    def post(self, request, public_id):
        from captions.services.alttext import replace_human_clean
        from captions.services.bulk import images_bulk_recaption

        image = selectors.image_for(request.user, public_id)
        serializer = ImageRecaptionInputSerializer(data=request.data, context={"owner": request.user})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        replace = replace_human_clean(data.get("replace_human"), data.get("replace_human_confirm"))
        done = images_bulk_recaption(
            owner=request.user, images=Image.objects.filter(pk=image.pk),
            request=data["caption_request"], replace_human=replace,
        )
        if not done:
            raise Conflict("This image is already waiting for a caption; re-caption it once it is done.")
        image = selectors.image_for(request.user, public_id)
        return Response(ImageSerializer(image, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


ImageAltSettingsInputSerializer = type(
    "ImageAltSettingsInputSerializer", (StrictSerializer,),
    {"__module__": __name__, "__doc__": "An image's purpose, context and link action.", **alt_request_fields()},
)


class ImageAltSettingsApi(APIView):
    """Change an image's purpose, context or link action. Decorative: done at once, alt text "".
    Another change queues a new caption (a person's text stays current; the new one is a suggestion)."""

    @extend_schema(
        operation_id="images_alt_settings",
        tags=["images"],
        request=ImageAltSettingsInputSerializer,
        responses={200: ImageSerializer, **error_responses(400, 401, 404)},
    )
    def post(self, request, public_id):
        from captions.services.alttext import image_alt_request_set

        image = selectors.image_for(request.user, public_id)
        serializer = ImageAltSettingsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        image_alt_request_set(image=image, **serializer.validated_data)
        image = selectors.image_for(request.user, public_id)
        return Response(ImageSerializer(image, context={"request": request}).data)
