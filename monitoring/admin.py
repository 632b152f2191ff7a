from django.contrib import admin

from monitoring.models import EvaluationRun


@admin.register(EvaluationRun)
class EvaluationRunAdmin(admin.ModelAdmin):
    list_display = ("created_at", "model_id", "model_spec", "dataset", "image_count", "status")
    list_filter = ("status", "dataset")
    search_fields = ("model_id", "model_spec", "dataset")
    readonly_fields = [field.name for field in EvaluationRun._meta.fields]
