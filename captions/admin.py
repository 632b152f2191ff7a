from django.contrib import admin

from captions.models import Batch, Caption, Image


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
    list_display = ["text", "image", "source", "confidence", "model_id", "needs_review", "created_at"]
    list_filter = ["source", "needs_review", "model_id", "created_at"]
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
