from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils import timezone

from captions.selectors import captioning_defaults
from feedback import selectors, services
from feedback.export import CONTENT_TYPES, dataset_text
from feedback.models import (
    ConfidenceCalibration,
    Feedback,
    ModelActivation,
    ReviewAction,
    ReviewerSettings,
    TrainingRun,
)


class HasCorrectionFilter(admin.SimpleListFilter):
    title = "correction"
    parameter_name = "has_correction"

    def lookups(self, request, model_admin):
        return [("yes", "With a corrected caption"), ("no", "Rating only")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(corrected_caption="")
        if self.value() == "no":
            return queryset.filter(corrected_caption="")
        return queryset


def _export_action(fmt: str):
    def export(modeladmin, request, queryset):
        """The data set (best caption per image, with its split) of the selected rows' images."""
        image_ids = list(queryset.values_list("caption__image_id", flat=True).distinct())
        examples = selectors.training_examples(image_ids=image_ids)
        extension = "json" if fmt == "coco" else fmt
        response = HttpResponse(dataset_text(examples, fmt), content_type=CONTENT_TYPES[fmt])
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="feedback-{stamp}.{extension}"'
        return response

    export.__name__ = f"export_{fmt}"
    export.short_description = f"Export the selection as a data set ({fmt.upper()})"
    return export


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["caption_text", "rating", "corrected_caption", "caption_model", "user", "updated_at"]
    list_filter = ["rating", HasCorrectionFilter, "caption__model_id", "updated_at"]
    search_fields = ["caption__text", "corrected_caption", "user__email", "caption__model_id"]
    raw_id_fields = ["user", "caption"]
    date_hierarchy = "updated_at"
    list_select_related = ["caption", "user"]
    actions = [_export_action("jsonl"), _export_action("csv"), _export_action("coco")]

    @admin.display(description="caption", ordering="caption__text")
    def caption_text(self, feedback):
        return feedback.caption.text[:80]

    @admin.display(description="model", ordering="caption__model_id")
    def caption_model(self, feedback):
        return feedback.caption.model_id


@admin.register(ReviewAction)
class ReviewActionAdmin(admin.ModelAdmin):
    list_display = ["action", "text_before", "text_after", "confidence", "reviewer", "created_at"]
    list_filter = ["action", "model_id", "created_at"]
    search_fields = ["text_before", "text_after", "reviewer__email"]
    raw_id_fields = ["image", "caption", "result_caption", "reviewer"]
    date_hierarchy = "created_at"
    list_select_related = ["reviewer"]


@admin.register(ReviewerSettings)
class ReviewerSettingsAdmin(admin.ModelAdmin):
    list_display = ["user", "review_threshold"]
    raw_id_fields = ["user"]


@admin.register(ConfidenceCalibration)
class ConfidenceCalibrationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "n", "n_good", "auroc", "target_precision", "threshold", "precision", "coverage", "applied"]
    list_filter = ["applied"]


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "base_model", "status", "train_size", "val_size", "output_dir", "created_at", "finished_at"]
    list_filter = ["status", "created_at"]
    readonly_fields = ["losses", "metrics_before", "metrics_after", "log", "error", "model_id", "started_at", "finished_at"]
    actions = ["activate"]

    @admin.action(description="Make the selected run's model the active one")
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one run to activate.", messages.ERROR)
            return
        try:
            services.model_activate(training_run=queryset.get(), user=request.user)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        else:
            self.message_user(request, f"Workers now caption with {captioning_defaults().model_spec}.", messages.SUCCESS)


@admin.register(ModelActivation)
class ModelActivationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "model_spec", "training_run", "activated_by"]
    raw_id_fields = ["training_run", "activated_by"]
