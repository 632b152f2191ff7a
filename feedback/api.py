"""Feedback API: rate a caption (and correct it), list one's own feedback."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import (
    PAGE_PARAMETERS,
    error_responses,
    paginated,
    paginated_response,
    rate_limit,
)
from core.serializers import StrictSerializer
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
