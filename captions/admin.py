from django import forms
from django.contrib import admin

from captions.models import Batch, Caption, CaptionStyleDefinition, Image
from core.forms import add_service_errors


class ModelIdFilter(admin.AllValuesFieldListFilter):
    """The model filter with its empty choice named: a human caption has no model id, and an
    unnamed link is no use to anyone (WCAG 2.4.4 Link Purpose)."""

    EMPTY = "(none: human captions)"

    def choices(self, changelist):
        for choice in super().choices(changelist):
            if not str(choice["display"]).strip() or str(choice["display"]).startswith(" ("):
                choice = {**choice, "display": f"{self.EMPTY}{choice['display']}"}
            yield choice


class CaptionInline(admin.TabularInline):
    model = Caption
    extra = 0
    fields = ["created_at", "source", "text", "confidence", "model_id", "model_version", "inference_ms", "needs_review"]
    readonly_fields = fields
    show_change_link = True


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["original_filename", "owner", "status", "attempts", "format", "width", "height", "created_at"]
    list_filter = ["status", "format", "created_at"]
    search_fields = ["original_filename", "sha256", "owner__email", "public_id", "current_caption__text"]
    raw_id_fields = ["owner", "batch", "current_caption"]
    readonly_fields = ["public_id", "sha256", "created_at", "updated_at", "claimed_at", "claim_expires_at", "claim_token"]
    date_hierarchy = "created_at"
    inlines = [CaptionInline]
    list_select_related = ["owner"]


@admin.register(Caption)
class CaptionAdmin(admin.ModelAdmin):
    list_display = ["text", "image", "source", "style", "language", "confidence", "model_id", "needs_review", "created_at"]
    list_filter = ["source", "needs_review", "style", "language", ("model_id", ModelIdFilter), "created_at"]
    search_fields = ["text", "raw_text", "image__original_filename", "image__owner__email", "model_id"]
    raw_id_fields = ["image", "reused_from", "created_by"]
    date_hierarchy = "created_at"
    list_select_related = ["image"]


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ["__str__", "owner", "created_at"]
    search_fields = ["name", "owner__email"]
    raw_id_fields = ["owner"]
    date_hierarchy = "created_at"


class CaptionStyleDefinitionForm(forms.ModelForm):
    """mlcore's rules for a style (name pattern, {language} the only placeholder, limits)."""

    class Meta:
        model = CaptionStyleDefinition
        fields = ["name", "prompt", "max_chars", "kind"]

    def clean(self):
        from django.core.exceptions import ValidationError

        from captions.services.styles import style_definition_validate

        data = super().clean()
        if not self.errors:
            try:
                style_definition_validate(
                    name=data["name"].strip(), prompt=data["prompt"], max_chars=data["max_chars"], kind=data["kind"]
                )
            except ValidationError as error:
                add_service_errors(self, error)
        return data


@admin.register(CaptionStyleDefinition)
class CaptionStyleDefinitionAdmin(admin.ModelAdmin):
    """Custom caption styles: saved and deleted through captions.services.styles, which registers
    them into mlcore (this process at once, web processes within 30 s, workers at their next batch)."""

    form = CaptionStyleDefinitionForm
    list_display = ["name", "kind", "max_chars", "updated_at"]
    search_fields = ["name", "prompt"]

    def save_model(self, request, obj, form, change):
        from captions.services.styles import caption_style_save

        data = form.cleaned_data
        caption_style_save(
            name=data["name"], prompt=data["prompt"], max_chars=data["max_chars"], kind=data["kind"], definition=obj
        )

    def delete_model(self, request, obj):
        from captions.services.styles import caption_style_delete

        caption_style_delete(definition=obj)

    def delete_queryset(self, request, queryset):
        for definition in queryset:
            self.delete_model(request, definition)
