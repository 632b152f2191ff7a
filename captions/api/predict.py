"""Synchronous-for-the-caller captioning: predict (signed in) and the anonymous demo.

Both enqueue like any upload and wait, reading the database, for a worker to finish the image:
200 with the caption when it does within PREDICT_WAIT_SECONDS, else 202 with the URL to poll.
The web process never loads a model.

The wait does not hold a thread of the web server: the views are async Django views
(``WaitingApiView.as_view``) that run DRF's sync part (parsing, auth, throttles, validation, the
upload) in a thread, then await the result on the event loop (captions.selectors.image_await_final)
under the ASGI server (gunicorn with uvicorn workers), and render the answer in a thread again.
"""

from asgiref.sync import sync_to_async
from django.conf import settings
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from captions import selectors
from captions.api.common import (
    AnyFileField,
    CandidateSerializer,
    CaptionRequestFields,
    DemoMultiPartParser,
    ImageSerializer,
    LimitedMultiPartParser,
    image_api_url,
    submit_response,
    upload_rejected_error,
)
from captions.api.images import IMAGE_EXAMPLE, UPLOAD_ERRORS
from captions.models import Image
from captions.services.demo import demo_image_discard, demo_owner_get
from captions.services.results import UploadRejected
from captions.services.submission import image_submit
from captions.uploads import oversize_refusals
from core.api import error_responses, rate_limit
from core.exceptions import PayloadTooLarge


class PredictInputSerializer(CaptionRequestFields):
    file = AnyFileField(required=False, help_text="One image.")


# The anonymous demo's own ceilings (the signed-in API allows up to mlcore's PARAM_RANGES): the
# demo is for trying the site, and each of these multiplies the cost of one caption.
DEMO_PARAM_CAPS = {"num_beams": 3, "max_length": 40, "min_length": 20, "num_alternatives": 1}


class DemoInputSerializer(PredictInputSerializer):
    """The demo captions with the site's model: no `model` field (an unknown field is a 400), and
    generation settings at most DEMO_PARAM_CAPS (an account may ask for more)."""

    model = None

    def to_internal_value(self, data):
        # The caps are judged on the values as sent, before the caption request is checked as a
        # whole (whose cross-field rules would otherwise speak first, about settings the demo
        # refuses anyway).
        errors = {}
        for name, cap in DEMO_PARAM_CAPS.items():
            raw = data.get(name) if hasattr(data, "get") else None
            try:
                value = float(raw) if raw not in (None, "") and not isinstance(raw, bool) else None
            except (TypeError, ValueError):
                continue  # not a number: the field itself names it
            if value is not None and value > cap:
                errors[name] = [f"The demo allows at most {cap}; sign up to ask for more."]
        if errors:
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def _image_answer(request, image: Image, poll_url: str, body: dict) -> Response:
    if image.is_final:
        return Response(body, status=status.HTTP_200_OK)
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": poll_url})


def _submit_one(request, *, owner, limit_text: str | None = None, demo: bool = False):
    """Validate the input and store the one image; (image, None) or (None, error response)."""
    serializer = (DemoInputSerializer if demo else PredictInputSerializer)(data=request.data, context={"owner": owner})
    serializer.is_valid(raise_exception=True)
    oversize = oversize_refusals(request)
    if oversize and limit_text:
        raise PayloadTooLarge(f"{oversize[0]}: {limit_text}")
    upload = serializer.validated_data.get("file")
    try:
        result = image_submit(
            owner=owner,
            files=[upload] if upload else [],
            request=serializer.validated_data["caption_request"],
            oversize_filenames=oversize,
            # A prediction answers with the model's caption; alt text found in the file stays in
            # the image's history (the demo keeps nothing at all).
            file_alt_text="off" if demo else "compare",
            interactive=True,
        )
    except UploadRejected as error:
        raise upload_rejected_error(error) from None
    if not result.accepted:
        return None, submit_response(request, result, oversize=oversize)
    return result.accepted[0], None


class WaitingApiView(APIView):
    """An APIView whose handler stores an image and answers ``self.pending(image)``; the view that
    ``as_view`` returns is async: it awaits the image's final status for up to
    PREDICT_WAIT_SECONDS without holding a thread, then answers ``self.answer(image)`` (raising
    NotFound with ``gone_detail`` when the image was deleted meanwhile). Errors go through DRF's
    exception handler as usual."""

    gone_detail = "The image was deleted while it was being captioned."

    @classmethod
    def as_view(cls, **initkwargs):
        sync_view = super().as_view(**initkwargs)

        async def view(request, *args, **kwargs):
            response = await sync_to_async(sync_view)(request, *args, **kwargs)
            image = getattr(response, "wait_for", None)
            if image is None:
                return response
            drf_view = response.renderer_context["view"]
            image = await selectors.image_await_final(image, timeout_seconds=settings.PREDICT_WAIT_SECONDS)
            return await sync_to_async(drf_view.answer_final)(image)

        view.cls = cls  # what DRF's and drf-spectacular's introspection read
        view.initkwargs = initkwargs
        return csrf_exempt(view)  # as DRF's own view: its authentication enforces CSRF for sessions

    def pending(self, image: Image) -> Response:
        """What the sync part answers: the image as it stands, marked to be waited for."""
        response = self.answer(image)
        response.wait_for = image
        return response

    def answer(self, image: Image) -> Response:
        raise NotImplementedError

    def answer_final(self, image: Image | None) -> Response:
        try:
            if image is None:
                raise NotFound(self.gone_detail)
            response = self.answer(image)
        except Exception as error:
            response = self.handle_exception(error)
        return self.finalize_response(self.request, response)


class PredictApi(WaitingApiView):
    """Caption one image and wait for it (up to PREDICT_WAIT_SECONDS): 200 with the image and
    its caption (check `status`: done, or failed with `error`), or 202 with `url` to poll."""

    parser_classes = [LimitedMultiPartParser]
    throttle_classes = [rate_limit("predict", "API_RATE_PREDICT", key="user")]

    @extend_schema(
        operation_id="predict",
        tags=["predict"],
        request={"multipart/form-data": PredictInputSerializer},
        responses={
            200: OpenApiResponse(ImageSerializer, description="Finished: done (with caption) or failed (with error)."),
            202: OpenApiResponse(ImageSerializer, description="Still queued or processing: poll `url` (also in Location)."),
            **UPLOAD_ERRORS,
            **error_responses(401, 415, 429),
        },
        examples=[IMAGE_EXAMPLE],
    )
    def post(self, request):
        image, refused = _submit_one(request, owner=request.user)
        if refused is not None:
            return refused
        return self.pending(image)

    def answer(self, image: Image) -> Response:
        body = ImageSerializer(image, context={"request": self.request}).data
        return _image_answer(self.request, image, image_api_url(self.request, image), body)


# --- The demo --------------------------------------------------------------------------------------


class DemoCaptionSerializer(serializers.Serializer):
    text = serializers.CharField()
    confidence = serializers.FloatField(allow_null=True)
    alternatives = CandidateSerializer(source="candidates", many=True)
    model_id = serializers.CharField()


class DemoResultSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.ChoiceField(choices=Image.Status.choices)
    caption = DemoCaptionSerializer(source="current_caption", allow_null=True)
    error = serializers.CharField()
    url = serializers.SerializerMethodField(help_text="Poll here while the status is queued or processing.")

    def get_url(self, image) -> str:
        return demo_poll_url(self.context["request"], image)


def demo_poll_url(request, image: Image) -> str:
    return request.build_absolute_uri(reverse("api:demo-caption-poll", kwargs={"public_id": image.public_id}))


def _demo_answer(request, image: Image) -> Response:
    body = DemoResultSerializer(image, context={"request": request}).data
    # Handed out: the upload is not kept (the scheduled purge removes what is never collected).
    demo_image_discard(image=image)
    return _image_answer(request, image, body["url"], body)


class DemoOnly(AllowAny):
    def has_permission(self, request, view) -> bool:
        if not settings.DEMO_ENABLED:
            raise NotFound("The demo is switched off on this site.")
        return True


DEMO_EXAMPLE = OpenApiExample(
    "Captioned",
    status_codes=["200"],
    response_only=True,
    value={
        "id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "status": "done",
        "caption": {"text": "a dog running on a beach", "confidence": 0.83, "alternatives": [], "model_id": "blip-base"},
        "error": "",
        "url": "https://captions.example.com/api/v1/demo/caption/1b4e28ba-2fa1-11d2-883f-0016d3cca427/",
    },
)


class DemoCaptionApi(WaitingApiView):
    """Try the service without an account: one small image, a strict per-address limit. The
    upload is deleted once its caption is returned (and at most DEMO_RETENTION_MINUTES later)."""

    authentication_classes = []
    permission_classes = [DemoOnly]
    parser_classes = [DemoMultiPartParser]
    throttle_classes = [rate_limit("demo", "API_RATE_DEMO", key="ip")]

    @extend_schema(
        operation_id="demo_caption",
        tags=["demo"],
        auth=[],
        request={"multipart/form-data": DemoInputSerializer},
        responses={
            200: OpenApiResponse(DemoResultSerializer, description="Finished (the upload is now deleted)."),
            202: OpenApiResponse(DemoResultSerializer, description="Still working: poll `url`."),
            **UPLOAD_ERRORS,
            **error_responses(404, 415, 429),
        },
        examples=[DEMO_EXAMPLE],
    )
    def post(self, request):
        limit = f"The demo accepts files up to {settings.DEMO_MAX_UPLOAD_BYTES / (1024 * 1024):g} MiB."
        image, refused = _submit_one(request, owner=demo_owner_get(), limit_text=limit, demo=True)
        if refused is not None:
            return refused
        body = DemoResultSerializer(image, context={"request": request}).data
        response = _image_answer(request, image, body["url"], body)
        response.wait_for = image  # answered (and the upload discarded) once final
        return response

    gone_detail = "The upload is gone."

    def answer(self, image: Image) -> Response:
        return _demo_answer(self.request, image)


class DemoCaptionPollApi(APIView):
    """The demo caption of an upload that was still being captioned (404 once collected)."""

    authentication_classes = []
    permission_classes = [DemoOnly]

    @extend_schema(
        operation_id="demo_caption_poll",
        tags=["demo"],
        auth=[],
        responses={
            200: OpenApiResponse(DemoResultSerializer, description="Finished (the upload is now deleted)."),
            202: OpenApiResponse(DemoResultSerializer, description="Still working."),
            **error_responses(404),
        },
    )
    def get(self, request, public_id):
        return _demo_answer(request, selectors.demo_image_for(public_id))
