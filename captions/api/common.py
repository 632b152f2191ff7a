"""Serializers and parsers shared by the captions API views."""

import dataclasses
from collections.abc import Mapping

from django.conf import settings
from django.urls import reverse
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser

from captions.models import MODEL_SPEC_MAX_LENGTH, Caption, Image
from captions.uploads import SizeLimitedUploadHandler, archive_byte_limit
from core.serializers import OptionalBooleanField, StrictSerializer
from mlcore.params import PARAM_RANGES, GenerationParams

# --- Input ----------------------------------------------------------------------------------------


class LanguageTagField(serializers.CharField):
    """A BCP 47 tag, judged by mlcore.styles.check_language (langcodes): a refusal says why in
    mlcore's words ("english" -> "... ('en' for English) ..."). The API takes the tag as sent:
    surrounding spaces are refused, not trimmed (the schema states the tag's shape)."""

    default_error_messages = {"invalid": "Not a BCP 47 language tag: use one such as en, fr, de or pt-BR."}

    def run_validators(self, value):
        super().run_validators(value)
        if not value:
            return
        from mlcore.styles import InvalidLanguage, check_language

        try:
            check_language(value)
        except InvalidLanguage as error:  # mlcore's words, without its "language: " (the field is named)
            raise serializers.ValidationError(str(error).removeprefix("language: ")) from None
        if value != value.strip():
            self.fail("invalid")


def _generation_param_fields() -> dict[str, serializers.Field]:
    fields = {}
    for spec in dataclasses.fields(GenerationParams):
        help_text = f"Default {spec.default!r}."
        if spec.name in PARAM_RANGES:
            help_text += f" Range: {PARAM_RANGES[spec.name].range_text(spec.name)}."
        type_name = getattr(spec.type, "__name__", spec.type)  # a string under postponed annotations
        kind = {"int": serializers.IntegerField, "float": serializers.FloatField, "bool": OptionalBooleanField,
                "str": serializers.CharField}[type_name]
        extra = {"allow_blank": True} if type_name == "str" else {}  # blank: the default
        fields[spec.name] = kind(required=False, help_text=help_text, **extra)
    # The API takes a language tag exactly as its schema states it (no padding, at most 35).
    fields["language"] = LanguageTagField(
        max_length=35, trim_whitespace=False, required=False, allow_blank=True,
        help_text=fields["language"].help_text + " A BCP 47 tag (en, de, pt-BR, zh-Hans) whose subtags the IANA "
        "language subtag registry holds.",
        error_messages={"max_length": "A BCP 47 language tag has at most 35 characters."},
    )
    fields.update(alt_request_fields())
    return fields


def alt_request_fields() -> dict[str, serializers.Field]:
    """purpose, context and action: mlcore.alttext.check_alt_request is the rule; the schema
    states it, so every schema-valid value is accepted."""
    from mlcore.alttext import MAX_ACTION_CHARS, MAX_CONTEXT_CHARS, PLAIN_TEXT_PATTERN, PURPOSES

    fields = {}
    fields["purpose"] = serializers.ChoiceField(
        choices=list(PURPOSES), required=False, allow_blank=True,
        help_text="What the image is for: " + "; ".join(PURPOSES.values()) + ". Default informative.")
    fields["context"] = serializers.RegexField(
        PLAIN_TEXT_PATTERN, max_length=MAX_CONTEXT_CHARS, required=False, allow_blank=True, trim_whitespace=False,
        help_text="Where the image appears (page title, surrounding text, product name, keywords): plain text, "
        f"at most {MAX_CONTEXT_CHARS} characters, no control characters. Models that take a prompt use it.",
        error_messages={"invalid": "Write the context as plain text, without control characters."})
    fields["action"] = serializers.RegexField(
        PLAIN_TEXT_PATTERN, max_length=MAX_ACTION_CHARS, required=False, allow_blank=True,
        help_text="For purpose functional (a link or button): what it does or where it leads.",
        error_messages={"invalid": "Write the action as plain text, without control characters."})
    fields["ocr"] = serializers.ChoiceField(
        choices=["on", "off"], required=False, allow_blank=True,
        help_text="Read the text in the image (Tesseract OCR): on, off, or empty for the site's setting "
        "(OCR_ENABLED). Purpose text always reads it.")
    return fields


class _GenerationParamsSerializer(StrictSerializer):
    """The caption request's fields, checked once: the fields parse what they can (numbers,
    lengths, the language tag); then captions.caption_request.caption_request_check judges the
    request as a whole (ranges, cross-field rules, the model, style and language against it) with
    the fields refused here left out, so one 400 names every field at fault. The checked
    CaptionRequest is validated_data["caption_request"]; the request's owner comes from the
    serializer's context ("owner": the owner's default language)."""

    # Fields of a subclass that reuse a request field's name for something else (the bulk API's
    # `action` is the operation, not a functional image's link text): not part of the request.
    not_request_fields: tuple[str, ...] = ()

    def to_internal_value(self, data):
        from django.core.exceptions import ValidationError as DjangoValidationError

        from captions.caption_request import REQUEST_FIELDS, caption_request_check

        request_fields = [name for name in REQUEST_FIELDS if name not in self.not_request_fields]

        detail: dict = {}
        try:
            values = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if not isinstance(error.detail, dict) or not isinstance(data, Mapping):  # e.g. a JSON body `false`
                raise
            detail = dict(error.detail)
            values = {}
            for name in request_fields:  # the request fields that did parse, for the one check
                if name in detail or name not in data or name not in self.fields:
                    continue
                try:
                    values[name] = self.fields[name].run_validation(data.get(name))
                except serializers.ValidationError:
                    continue
        asked = {name: values[name] for name in request_fields if name in values}
        try:
            request = caption_request_check(asked, owner=self.context.get("owner"), offered_model=True,
                                            refused=detail.keys())
        except DjangoValidationError as error:
            detail.update({name: messages for name, messages in error.message_dict.items() if name not in detail})
        if detail:
            raise serializers.ValidationError(detail)
        values = {name: value for name, value in values.items() if name not in request_fields}
        values["caption_request"] = request
        return values


GenerationParamsFields = type(
    "GenerationParamsFields",
    (_GenerationParamsSerializer,),
    {"__module__": __name__, "__doc__": "The mlcore GenerationParams fields, all optional (left out, not blank).",
     "reject_blank": True, **_generation_param_fields()},
)


class CaptionRequestFields(GenerationParamsFields):
    """GenerationParams fields plus the model to caption with. `style` (alt,
    description, tags or a custom style) and `language` (BCP 47) are among the GenerationParams
    fields; a model that cannot write them is a 400 naming the field, before anything is queued."""

    model = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=MODEL_SPEC_MAX_LENGTH,
        help_text=(
            "A model by name: a registry name (blip-base, smolvlm-256m, qwen2.5-vl-3b, ...), a spec of "
            "CAPTION_MODEL_CHOICES (openai:..., fallback:...), or ensemble:<a>,<b> of them. Default: the active model."
        ),
    )


class FileAltTextField(serializers.ChoiceField):
    """An upload's choice for alt text already embedded in its files."""

    def __init__(self, **kwargs):
        super().__init__(
            choices=["keep", "compare", "off"], required=False,
            help_text="Alt text or a description embedded in a file (IPTC Alt Text, XMP dc:description, "
            "IPTC-IIM Caption-Abstract, EXIF ImageDescription): keep (it becomes the alt text; the model's "
            "caption is a suggestion), compare (the model's caption becomes the alt text; the file's is in "
            "the history) or off (not read). Default: the site's ALT_TEXT_FROM_FILE.", **kwargs)


class AnyFileField(serializers.FileField):
    """A file of any content: whether it is an acceptable image is image_submit's call, which
    refuses a bad file by name (empty files included) instead of failing the whole request."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_empty_file", True)
        kwargs.setdefault("use_url", False)
        super().__init__(**kwargs)


# --- Uploads: the per-file size limit as the request streams in -----------------------------------


class _LimitedUploadHandler(SizeLimitedUploadHandler):
    """SizeLimitedUploadHandler with a limit per file chosen by the view (a file over it is
    dropped while it arrives and named by captions.uploads.oversize_refusals)."""

    limit_for_name = staticmethod(lambda name: settings.MAX_UPLOAD_BYTES)

    def byte_limit(self, file_name: str) -> int:
        return self.limit_for_name(file_name)


class LimitedMultiPartParser(MultiPartParser):
    """Multipart with this view's per-file limit in place of the site-wide one."""

    limit_for_name = staticmethod(lambda name: settings.MAX_UPLOAD_BYTES)

    def parse(self, stream, media_type=None, parser_context=None):
        django_request = parser_context["request"]._request
        handler_class = type(
            "UploadHandler", (_LimitedUploadHandler,), {"limit_for_name": staticmethod(self.limit_for_name)}
        )
        handlers = [handler_class(django_request)]
        handlers += [h for h in django_request.upload_handlers if not isinstance(h, SizeLimitedUploadHandler)]
        django_request.upload_handlers = handlers
        return super().parse(stream, media_type, parser_context)


class BatchMultiPartParser(LimitedMultiPartParser):
    """A .zip may be as large as BATCH_MAX_ZIP_BYTES; its members obey MAX_UPLOAD_BYTES."""

    limit_for_name = staticmethod(archive_byte_limit)


class DemoMultiPartParser(LimitedMultiPartParser):
    limit_for_name = staticmethod(lambda name: settings.DEMO_MAX_UPLOAD_BYTES)


# --- Output ---------------------------------------------------------------------------------------


class CandidateSerializer(serializers.Serializer):
    text = serializers.CharField()
    score = serializers.FloatField(allow_null=True)


class CaptionSerializer(serializers.ModelSerializer):
    alternatives = CandidateSerializer(source="candidates", many=True, help_text="Other candidate captions, best first.")
    params = serializers.DictField(help_text="The generation parameters used.")
    timings = serializers.DictField(help_text="Milliseconds per stage, as measured by the worker.")
    tags = serializers.ListField(
        child=serializers.CharField(), allow_null=True, help_text="Keywords of the tags style; null for other styles."
    )
    details = serializers.SerializerMethodField(
        help_text=(
            "confidence_source (logprobs | unknown for engines, model_scores for local models); for staff also "
            "the engine that answered and the fallback record (engines that failed and why)."
        )
    )

    def get_details(self, caption) -> dict:
        details = caption.details or {}
        request = self.context.get("request")
        if request is not None and request.user.is_authenticated and request.user.has_perm("monitoring.view_operations"):
            return details
        return {k: details[k] for k in ("confidence_source",) if k in details}

    class Meta:
        model = Caption
        fields = [
            "id",
            "text",
            "confidence",
            "alternatives",
            "source",
            "model_id",
            "model_version",
            "needs_review",
            "style",
            "language",
            "prompt",
            "tags",
            "details",
            "params",
            "inference_ms",
            "timings",
            "extended_description",
            "checks",
            "approved_at",
            "created_at",
        ]
        read_only_fields = fields


def image_api_url(request, image: Image) -> str:
    return request.build_absolute_uri(reverse("api:image-detail", kwargs={"public_id": image.public_id}))


class ImageSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    url = serializers.SerializerMethodField(help_text="Poll this URL for the caption.")
    status = serializers.ChoiceField(choices=Image.Status.choices)
    filename = serializers.CharField(source="original_filename")

    def get_url(self, image) -> str:
        return image_api_url(self.context["request"], image)


class ImageSerializer(ImageSummarySerializer):
    batch = serializers.IntegerField(source="batch_id", allow_null=True)
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    format = serializers.CharField()
    byte_size = serializers.IntegerField()
    sha256 = serializers.CharField()
    params = serializers.DictField(help_text="The generation parameters asked for.")
    attempts = serializers.IntegerField()
    error = serializers.CharField(help_text="Why the last attempt failed; empty otherwise.")
    error_kind = serializers.CharField(
        help_text="What kind of failure `error` is, empty otherwise: " + ", ".join(Image.FailureKind.values) + "."
    )
    needs_review = serializers.SerializerMethodField()
    caption = CaptionSerializer(source="current_caption", allow_null=True, help_text="Null until captioned.")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    alt = serializers.SerializerMethodField(help_text=(
        "The alt text fit for its purpose: purpose, context, action, decorative (alt_text is then \"\" on "
        "purpose), alt_text, extended_description (complex), source (human-approved | human-edited | file | "
        "model), checks (the alt-text checker's findings), suggestions (model captions kept beside a "
        "person's text: id, text, model_id), context_unused_by (a model that takes no prompt)."
    ))

    def get_needs_review(self, image) -> bool:
        return bool(image.current_caption and image.current_caption.needs_review)

    def get_alt(self, image) -> dict:
        from captions.selectors import alt_text_state

        state = alt_text_state(image)
        state.pop("purpose_label", None)
        state["suggestions"] = [{"id": c.pk, "text": c.text, "model_id": c.model_id} for c in state["suggestions"]]
        return state


class RefusalSerializer(serializers.Serializer):
    filename = serializers.CharField()
    reason = serializers.CharField()


class SubmitResultSerializer(serializers.Serializer):
    batch = serializers.IntegerField(source="batch.pk", allow_null=True, default=None)
    images = ImageSummarySerializer(source="accepted", many=True)
    refused = RefusalSerializer(many=True)


# --- Answers to an upload -------------------------------------------------------------------------


def submit_answer(request, result, *, oversize: list[str] = ()) -> tuple[dict, int]:
    """(body, status) of the answer to an upload: 202 with each accepted image and each refused
    file; when nothing was accepted, 400 (or 413 when every file was refused for its size), in the
    error format, refusals listed too. The API and the site's upload form (its script) both answer
    with it: one upload protocol."""
    from core.exceptions import error_body

    if result.accepted:
        return SubmitResultSerializer(result, context={"request": request}).data, 202
    refused = RefusalSerializer(result.refused, many=True).data
    too_large = bool(oversize) and len(oversize) == len(result.refused)
    messages = [f"{r.filename}: {r.reason}" for r in result.refused] or ["No file was sent."]
    body = error_body(
        f"No file was accepted. {messages[0]}", "too_large" if too_large else "files_refused", {"files": messages}
    )
    body["refused"] = refused
    return body, 413 if too_large else 400


def submit_response(request, result, *, oversize: list[str] = ()):
    """submit_answer as a DRF response."""
    from rest_framework.response import Response

    body, status_code = submit_answer(request, result, oversize=oversize)
    return Response(body, status=status_code)


def upload_rejected_error(error) -> "serializers.ValidationError":
    """captions.services.results.UploadRejected (the upload as a whole) as a 400 naming `files`."""
    return serializers.ValidationError({"files": [str(error)]}, code="upload_rejected")


def queue_files_take_or_429(request, count: int) -> None:
    """The user's queued-files budget (captions.limits) for an API upload: counted in files; over
    it, a 429 with the reason and Retry-After (nothing is stored)."""
    from captions.limits import QueueLimitReached, queue_files_take
    from core.exceptions import ThrottledWithReason

    try:
        queue_files_take(owner=request.user, count=count)
    except QueueLimitReached as error:
        raise ThrottledWithReason(error.messages[0], wait=error.wait) from None


IDEMPOTENCY_PARAMETER_HELP = (
    "Idempotency-Key header (optional, up to 255 printable ASCII characters, a UUID is ideal): a "
    "retry with the same key within 24 hours returns the first answer (header Idempotent-Replayed: "
    "true) and stores nothing again; 409 while another request with the key is committing."
)


def idempotent_upload(request, *, endpoint: str, submit):
    """Answer an upload (`submit()` -> SubmitResult, or raises UploadRejected) honouring the
    Idempotency-Key header (captions.services.idempotency): a replay returns the first answer; the
    first answer is committed with the images it announces."""
    from rest_framework.response import Response

    from captions.services.idempotency import (
        IdempotencyConflict,
        idempotency_key_clean,
        idempotent_answer,
        idempotent_submit,
    )
    from captions.services.results import UploadRejected
    from captions.uploads import oversize_refusals
    from core.exceptions import Conflict

    key = idempotency_key_clean(request.headers.get("Idempotency-Key"))
    replay = idempotent_answer(owner=request.user, endpoint=endpoint, key=key)
    if replay is not None:
        return Response(replay[1], status=replay[0], headers={"Idempotent-Replayed": "true"})

    def run() -> tuple[int, dict]:
        try:
            result = submit()
        except UploadRejected as error:
            raise upload_rejected_error(error) from None
        response = submit_response(request, result, oversize=oversize_refusals(request))
        return response.status_code, response.data

    try:
        status_code, body = idempotent_submit(owner=request.user, endpoint=endpoint, key=key, run=run)
    except IdempotencyConflict:
        raise Conflict(
            "Another request with this Idempotency-Key was committed first; send this one again to get its answer."
        ) from None
    return Response(body, status=status_code)

