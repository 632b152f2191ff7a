"""DRF authentication by API key: `Authorization: Api-Key <prefix>.<secret>`.

JWTs are handled by simplejwt's JWTAuthentication (listed first in settings, so a 401 names
the Bearer scheme). A request with another scheme passes on to the next authenticator.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts import keys, services


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, raw_key = header.partition(" ")
        if scheme.lower() != keys.SCHEME.lower():
            return None
        try:
            api_key = services.api_key_authenticate(raw_key=raw_key)
        except services.ApiKeyRejected as error:
            raise exceptions.AuthenticationFailed(str(error), code="api_key_invalid") from None
        return api_key.owner, api_key

    def authenticate_header(self, request) -> str:
        return keys.SCHEME


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <prefix>.<secret>`, made on the API keys page or with POST /api/v1/api-keys/.",
        }
