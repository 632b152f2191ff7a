from django.urls import path

from captions import views

app_name = "captions"

urlpatterns = [
    path("", views.gallery, name="gallery"),
    path("upload/", views.upload, name="upload"),
    path("images/poll/", views.gallery_poll, name="gallery_poll"),
    path("images/bulk/", views.images_bulk, name="images_bulk"),
    path("batches/", views.batch_list, name="batches"),
    path("batches/<int:batch_id>/", views.batch_detail, name="batch_detail"),
    path("batches/<int:batch_id>/export/", views.batch_export, name="batch_export"),
    path("images/<uuid:public_id>/", views.image_detail, name="image_detail"),
    path("images/<uuid:public_id>/card/", views.image_card, name="image_card"),
    path("images/<uuid:public_id>/retry/", views.image_retry, name="image_retry"),
    path("images/<uuid:public_id>/alt-settings/", views.image_alt_settings, name="image_alt_settings"),
    path("images/<uuid:public_id>/suggestions/<int:caption_id>/use/", views.image_suggestion_use, name="image_suggestion_use"),
    path("images/<uuid:public_id>/delete/", views.image_delete, name="image_delete"),
    path("images/<uuid:public_id>/download/", views.image_download, name="image_download"),
    path("images/<uuid:public_id>/original/", views.image_file, {"variant": "original"}, name="image_original"),
    path("images/<uuid:public_id>/thumbnail/", views.image_file, {"variant": "thumbnail"}, name="image_thumbnail"),
]
