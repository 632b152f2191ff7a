"""Everything under /api/: the versioned API (/api/v1/), its OpenAPI schema and the Swagger UI."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from accounts import api as accounts_api
from captions.api import batches, exports, images, predict
from core import params as _params  # noqa: F401  (registers the <id:...> path converter)
from core.api import route
from core.views import SwaggerUiView
from feedback import api as feedback_api

app_name = "api"


v1 = [
    # Authentication
    path("auth/token/", accounts_api.TokenObtainApi.as_view(), name="token-obtain"),
    path("auth/token/refresh/", accounts_api.TokenRefreshApi.as_view(), name="token-refresh"),
    path("auth/token/verify/", accounts_api.TokenVerifyApi.as_view(), name="token-verify"),
    path("auth/logout/", accounts_api.LogoutApi.as_view(), name="logout"),
    path("auth/sign-ins/", accounts_api.SignInListApi.as_view(), name="sign-ins"),
    path("auth/sign-ins/sessions/<int:session_id>/", accounts_api.SignInSessionEndApi.as_view(), name="sign-in-session"),
    path("auth/sign-ins/tokens/<int:token_id>/", accounts_api.RefreshTokenRevokeApi.as_view(), name="sign-in-token"),
    path("api-keys/", route(accounts_api.ApiKeyListApi, accounts_api.ApiKeyCreateApi), name="api-keys"),
    path("api-keys/<str:prefix>/", accounts_api.ApiKeyRevokeApi.as_view(), name="api-key"),
    # Images
    path("images/", route(images.ImageListApi, images.ImageUploadApi), name="images"),
    path("images/export/", exports.SelectionExportApi.as_view(), name="images-export"),
    path("images/bulk/", feedback_api.ImagesBulkApi.as_view(), name="images-bulk"),
    path("images/<uuid:public_id>/download/", exports.ImageDownloadApi.as_view(), name="image-download"),
    path("images/<uuid:public_id>/", route(images.ImageDetailApi, images.ImageDeleteApi, feedback_api.ImageEditApi),
         name="image-detail"),
    path("images/<uuid:public_id>/retry/", images.ImageRetryApi.as_view(), name="image-retry"),
    path("images/<uuid:public_id>/recaption/", images.ImageRecaptionApi.as_view(), name="image-recaption"),
    path("images/<uuid:public_id>/alt/", images.ImageAltSettingsApi.as_view(), name="image-alt"),
    path("images/<uuid:public_id>/captions/", images.ImageCaptionsApi.as_view(), name="image-captions"),
    path("predict/", predict.PredictApi.as_view(), name="predict"),
    # Batches
    path("batches/", route(batches.BatchListApi, batches.BatchCreateApi), name="batches"),
    path("batches/<id:batch_id>/", batches.BatchDetailApi.as_view(), name="batch-detail"),
    path("coverage/", batches.CoverageApi.as_view(), name="coverage"),
    # With or without the trailing slash: `export?format=csv` is how people type it.
    re_path(r"^batches/(?P<batch_id>[0-9]{1,18})/export/?$", batches.BatchExportApi.as_view(), name="batch-export"),
    # The anonymous demo
    path("demo/caption/", predict.DemoCaptionApi.as_view(), name="demo-caption"),
    path("demo/caption/<uuid:public_id>/", predict.DemoCaptionPollApi.as_view(), name="demo-caption-poll"),
    # Feedback
    path("captions/<id:caption_id>/", feedback_api.CaptionEditApi.as_view(), name="caption-edit"),
    path("captions/<id:caption_id>/approve/", feedback_api.CaptionApproveApi.as_view(), name="caption-approve"),
    path("captions/<id:caption_id>/pick/", feedback_api.CaptionPickApi.as_view(), name="caption-pick"),
    path("captions/<id:caption_id>/recaption/", feedback_api.CaptionRecaptionApi.as_view(), name="caption-recaption"),
    path("captions/<id:caption_id>/reject/", feedback_api.CaptionRejectApi.as_view(), name="caption-reject"),
    path("captions/<id:caption_id>/feedback/", feedback_api.CaptionFeedbackApi.as_view(), name="caption-feedback"),
    path("feedback/", feedback_api.FeedbackListApi.as_view(), name="feedback"),
    # OpenAPI
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("docs/", SwaggerUiView.as_view(url_name="api:schema"), name="docs"),
]
