"""Feedback API: rate a caption (and correct it), list one's own feedback."""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from captions.api.common import (
    CaptionRequestFields,
    CaptionSerializer,
    ImageSerializer,
)
from captions.api.exports import images_selected_for
from captions.api.images import ImageFilterSerializer
from captions.services.bulk import BULK_LIMIT, images_bulk_delete, images_bulk_recaption, images_bulk_retry
from core.api import (
    PAGE_PARAMETERS,
    error_responses,
    paginated,
    paginated_response,
    rate_limit,
)
from core.exceptions import Conflict
from core.serializers import StrictSerializer, UUIDStringField
from feedback import selectors, services
from feedback.models import Feedback


class FeedbackInputSerializer(StrictSerializer):
    rating = serializers.IntegerField(min_value=1, max_value=5, help_text="1 (wrong) to 5 (perfect).")
    corrected_caption = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        trim_whitespace=False,  # the service trims, and refuses a correction of only whitespace
        help_text=(
            f"The caption you would have written, 1-{Feedback.MAX_CORRECTION_LENGTH} characters "
            "(not only whitespace). On the current caption of your own image it becomes the image's alt "
            "text, as on the website. Left out or null: an earlier correction is kept; empty: removed."
        ),
    )


class FeedbackSerializer(serializers.ModelSerializer):
    caption = serializers.IntegerField(source="caption_id", help_text="The rated caption's id.")
    caption_text = serializers.CharField(source="caption.text")
    image = serializers.UUIDField(source="caption.image.public_id", help_text="The image's id.")

    class Meta:
        model = Feedback
        fields = ["id", "caption", "caption_text", "image", "rating", "corrected_caption", "created_at", "updated_at"]
        read_only_fields = fields


class CaptionFeedbackApi(APIView):
    """Rate a caption, optionally with a better one (on your own image's current caption it becomes
    the alt text, as on the website). Each user has one feedback per caption: posting again
    replaces its rating (200 instead of 201); a post without corrected_caption keeps the earlier one."""

    throttle_classes = [rate_limit("feedback", "API_RATE_FEEDBACK", key="user")]

    @extend_schema(
        operation_id="caption_feedback",
        tags=["feedback"],
        request=FeedbackInputSerializer,
        responses={201: FeedbackSerializer, 200: FeedbackSerializer, **error_responses(400, 401, 404, 429)},
        examples=[
            OpenApiExample("A correction", request_only=True, value={"rating": 2, "corrected_caption": "a black cat asleep on a sofa"})
        ],
    )
    def post(self, request, caption_id: int):
        caption = selectors.reviewable_caption_for(request.user, caption_id)
        serializer = FeedbackInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = not Feedback.objects.filter(user=request.user, caption=caption).exists()
        feedback, _ = services.caption_feedback_submit(
            user=request.user,
            caption=caption,
            rating=serializer.validated_data["rating"],
            corrected_caption=serializer.validated_data.get("corrected_caption"),
        )
        return Response(
            FeedbackSerializer(feedback).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class FeedbackListApi(APIView):
    """The caller's own feedback, most recently changed first."""

    @extend_schema(
        operation_id="feedback_list",
        tags=["feedback"],
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(FeedbackSerializer), **error_responses(401, 404)},
    )
    def get(self, request):
        return paginated_response(request, self, selectors.feedback_list_for(request.user), FeedbackSerializer)


# --- Review actions: what the website's review queue and image page do -------------------------------


class CaptionEditInputSerializer(StrictSerializer):
    text = serializers.CharField(
        trim_whitespace=False, help_text="The new caption; it becomes the image's alt text (the old one stays in the history).")


class CaptionPickInputSerializer(StrictSerializer):
    index = serializers.IntegerField(min_value=0, help_text="Which alternative (0: the first of `alternatives`).")


class RecaptionInputSerializer(CaptionRequestFields):
    """Another model, style, language or generation parameters for a new caption."""


def _caption_answer(request, caption, status_code=status.HTTP_200_OK) -> Response:
    caption.refresh_from_db()
    return Response(CaptionSerializer(caption, context={"request": request}).data, status=status_code)


class CaptionEditApi(APIView):
    """Edit a caption: the text becomes the image's alt text, as the website's edit does (a human
    caption; the edited one stays in the history). The same text again changes nothing."""

    @extend_schema(operation_id="caption_edit", tags=["review"], request=CaptionEditInputSerializer,
                   responses={200: CaptionSerializer, **error_responses(400, 401, 404)})
    def patch(self, request, caption_id: int):
        caption = selectors.reviewable_caption_for(request.user, caption_id)
        serializer = CaptionEditInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        human = services.caption_edit(caption=caption, reviewer=request.user, text=serializer.validated_data["text"])
        return _caption_answer(request, human)


class CaptionApproveApi(APIView):
    """Approve a caption as it is: it leaves the review queue and counts as a good example."""

    @extend_schema(operation_id="caption_approve", tags=["review"], request=None,
                   responses={200: CaptionSerializer, **error_responses(400, 401, 404)})
    def post(self, request, caption_id: int):
        caption = selectors.reviewable_caption_for(request.user, caption_id)
        services.caption_approve(caption=caption, reviewer=request.user)
        return _caption_answer(request, caption)


class CaptionPickApi(APIView):
    """Pick one of the model's alternatives: it becomes the image's caption."""

    @extend_schema(operation_id="caption_pick", tags=["review"], request=CaptionPickInputSerializer,
                   responses={200: CaptionSerializer, **error_responses(400, 401, 404)})
    def post(self, request, caption_id: int):
        caption = selectors.reviewable_caption_for(request.user, caption_id)
        serializer = CaptionPickInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        human = services.caption_pick(caption=caption, reviewer=request.user, index=serializer.validated_data["index"])
        return _caption_answer(request, human)


def _recaption(request, caption_id: int, *, reject: bool) -> Response:
    caption = selectors.reviewable_caption_for(request.user, caption_id)
    serializer = RecaptionInputSerializer(data=request.data, context={"owner": request.user})
    serializer.is_valid(raise_exception=True)
    try:
        services.image_recaption(
            caption=caption, reviewer=request.user, request=serializer.validated_data["caption_request"],
            reject=reject,
        )
    except ValidationError as error:
        if hasattr(error, "error_dict") and "model_spec" in error.error_dict:
            raise ValidationError({"model": error.message_dict["model_spec"]}) from None
        raise
    image = caption.image
    image.refresh_from_db()
    return Response({"image": str(image.public_id), "status": image.status}, status=status.HTTP_202_ACCEPTED)


class RecaptionAnswerSerializer(serializers.Serializer):
    image = serializers.UUIDField()
    status = serializers.CharField(help_text="queued: the worker writes the new caption; the current one stays until then.")


class CaptionRecaptionApi(APIView):
    """Caption the image again with another model, style, language or parameters (the current
    caption stays until the new one is written)."""

    @extend_schema(operation_id="caption_recaption", tags=["review"], request=RecaptionInputSerializer,
                   responses={202: RecaptionAnswerSerializer, **error_responses(400, 401, 404)})
    def post(self, request, caption_id: int):
        return _recaption(request, caption_id, reject=False)


class CaptionRejectApi(APIView):
    """Reject a caption (it is wrong: counted so for calibration) and caption the image again,
    optionally with another model, style, language or parameters."""

    @extend_schema(operation_id="caption_reject", tags=["review"], request=RecaptionInputSerializer,
                   responses={202: RecaptionAnswerSerializer, **error_responses(400, 401, 404)})
    def post(self, request, caption_id: int):
        return _recaption(request, caption_id, reject=True)


class ImageEditApi(APIView):
    """Edit the image's alt text (its current caption), as the website's image page does; the old
    caption stays in the history. 409 while the image has no caption yet."""

    @extend_schema(operation_id="images_edit", tags=["images"], request=CaptionEditInputSerializer,
                   responses={200: ImageSerializer, **error_responses(400, 401, 404, 409)})
    def patch(self, request, public_id):
        image = selectors.reviewable_image_for(request.user, public_id)
        if image.owner_id != request.user.pk:
            raise NotFound()
        serializer = CaptionEditInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if image.current_caption_id is None:
            raise Conflict("The image has no caption yet; edit it once it is captioned.")
        caption = selectors.reviewable_caption_for(request.user, image.current_caption_id)
        services.caption_edit(caption=caption, reviewer=request.user, text=serializer.validated_data["text"])
        image.refresh_from_db()
        return Response(ImageSerializer(image, context={"request": request}).data)


# --- Bulk actions over a selection ---------------------------------------------------------------------


class SelectionFilterSerializer(ImageFilterSerializer):
    """The image list's filters, selecting every image they find."""

    ordering = None
    page = None
    page_size = None


class BulkActionInputSerializer(CaptionRequestFields):
    action = serializers.ChoiceField(
        choices=["approve", "retry", "recaption", "delete"],
        help_text="approve: the selection's current model captions that need review; retry: its failed images; "
        "recaption: its finished images, with `model` and the generation fields; delete: the images, their "
        "captions and files. Exports: GET /api/v1/images/export/.")
    ids = serializers.ListField(
        child=UUIDStringField(), required=False, max_length=BULK_LIMIT,
        help_text=f"The images (at most {BULK_LIMIT}). With `filter` too: those of them the filter finds.")
    filter = SelectionFilterSerializer(
        required=False, help_text="Every image the image list's filters find ({} or left out with no ids: all "
        f"your images); at most {BULK_LIMIT} of them, else a 400 and nothing changes.")


class BulkActionAnswerSerializer(serializers.Serializer):
    action = serializers.CharField()
    count = serializers.IntegerField(help_text="How many images (or captions, for approve) it changed or queued.")


class ImagesBulkApi(APIView):
    """One action over a selection of the caller's images (ids, or a filter), with the website's
    limits: at most BULK_LIMIT images, refused whole (400) before any change."""

    throttle_classes = [rate_limit("images_bulk", "API_RATE_UPLOAD", key="user")]

    @extend_schema(operation_id="images_bulk", tags=["images"], request=BulkActionInputSerializer,
                   responses={200: BulkActionAnswerSerializer, **error_responses(400, 401, 429)})
    def post(self, request):
        # The caption request is checked by the serializer whatever the selection holds (as on
        # upload: a bad style, language or model is a 400 naming it).
        serializer = BulkActionInputSerializer(data=request.data, context={"owner": request.user})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        images = images_selected_for(request.user, data.get("filter", {}))
        if data.get("ids"):
            images = images.filter(public_id__in=data["ids"])
        action = data["action"]
        if not images.exists():  # nothing selected: nothing to do (not an error of the request)
            return Response({"action": action, "count": 0})
        if action == "approve":
            if images.count() > BULK_LIMIT:
                raise ValidationError(f"At most {BULK_LIMIT} images can be changed at once. Narrow the filter.")
            captions = selectors.bulk_approvable_captions_for(request.user, images=images)
            count = services.captions_bulk_approve(reviewer=request.user, captions=captions) if captions.exists() else 0
        elif action == "retry":
            count = images_bulk_retry(owner=request.user, images=images)
        elif action == "recaption":
            try:
                count = images_bulk_recaption(owner=request.user, images=images, request=data["caption_request"])
            except ValidationError as error:
                if hasattr(error, "error_dict") and "model_spec" in error.error_dict:
                    raise ValidationError({"model": error.message_dict["model_spec"]}) from None
                raise
        else:
            count = images_bulk_delete(owner=request.user, images=images)
        return Response({"action": action, "count": count})
