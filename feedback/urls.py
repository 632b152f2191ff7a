from django.urls import path

from core import params as _params  # noqa: F401  (registers the <id:...> path converter)
from feedback import views

app_name = "feedback"

urlpatterns = [
    path("", views.review_queue, name="queue"),
    path("captions/<id:caption_id>/approve/", views.caption_approve, name="approve"),
    path("captions/<id:caption_id>/edit/", views.caption_edit, name="edit"),
    path("captions/<id:caption_id>/pick/", views.caption_pick, name="pick"),
    path("captions/<id:caption_id>/recaption/", views.caption_recaption, name="recaption"),
    path("captions/<id:caption_id>/feedback/", views.caption_feedback, name="feedback"),
    path("settings/", views.reviewer_settings, name="settings"),
    path("shortcuts/", views.reviewer_shortcuts, name="shortcuts"),
    path("approve/", views.captions_bulk_approve, name="bulk_approve"),
    path("images/<uuid:public_id>/original/", views.review_image_file, {"variant": "original"}, name="image_original"),
    path("images/<uuid:public_id>/thumbnail/", views.review_image_file, {"variant": "thumbnail"}, name="image_thumbnail"),
    path("models/", views.model_list, name="models"),
    path("models/activate/", views.model_activate, name="model_activate"),
]
