"""The accounts API: JWTs (obtain, refresh with rotation, verify, log out) and API keys."""

from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed, NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import (
    TokenBlacklistSerializer,
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
    TokenVerifySerializer,
)

from accounts import lockout, selectors, services
from accounts.models import ApiKey
from core.api import PAGE_PARAMETERS, error_responses, paginated, paginated_response, rate_limit
from core.exceptions import ThrottledWithReason
from core.serializers import StrictSerializer

TokenRateLimit = rate_limit("token", "API_RATE_TOKEN", key="ip")


def _validated(serializer) -> dict:
    """simplejwt reports a bad token as TokenError, and a token of a deleted account as the user's
    DoesNotExist: both are a 401, not a 500."""
    try:
        serializer.is_valid(raise_exception=True)
    except TokenError as error:
        raise InvalidToken(error.args[0]) from None
    except ObjectDoesNotExist:
        raise InvalidToken("The account of this token no longer exists.") from None
    return serializer.validated_data


# --- Tokens ------------------------------------------------------------------------------------


class TokenEndpoint(APIView):
    """Open to anybody, limited per client address (password guessing)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenRateLimit]

    def get_authenticate_header(self, request) -> str:
        # Bad credentials or tokens are a 401 naming the scheme, as on the rest of the API.
        return 'Bearer realm="api"'


class EmailTokenObtainSerializer(TokenObtainPairSerializer):
    """Email addresses are stored lower-case; people type them any way."""

    def validate(self, attrs):
        attrs[self.username_field] = attrs[self.username_field].strip().lower()
        try:
            return super().validate(attrs)
        except AuthenticationFailed:
            seconds = lockout.locked_for(self.context.get("request"))
            if seconds:
                raise ThrottledWithReason(lockout.lockout_message(seconds), wait=seconds) from None
            raise


class TokenObtainInputSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(style={"input_type": "password"})


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="Send as `Authorization: Bearer <access>`; short-lived.")
    refresh = serializers.CharField(help_text="Trade for a new pair at /auth/token/refresh/; each works once.")


class RefreshInputSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class TokenInputSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="An access or refresh token.")


class TokenObtainApi(TokenEndpoint):
    """Trade an email and password for an access token and a refresh token."""


    @extend_schema(
        operation_id="auth_token_obtain",
        tags=["auth"],
        auth=[],
        request=TokenObtainInputSerializer,
        responses={200: TokenPairSerializer, **error_responses(400, 401, 415, 429)},
        examples=[
            OpenApiExample("Credentials", value={"email": "ada@example.com", "password": "correct horse"}, request_only=True)
        ],
    )
    def post(self, request):
        serializer = EmailTokenObtainSerializer(data=request.data, context={"request": request})
        return Response(_validated(serializer))


class TokenRefreshApi(TokenEndpoint):
    """Trade a refresh token for a new pair; the old refresh token is blacklisted (rotation)."""


    @extend_schema(
        operation_id="auth_token_refresh",
        tags=["auth"],
        auth=[],
        request=RefreshInputSerializer,
        responses={200: TokenPairSerializer, **error_responses(400, 401, 415, 429)},
    )
    def post(self, request):
        return Response(_validated(TokenRefreshSerializer(data=request.data, context={"request": request})))


class TokenVerifyApi(TokenEndpoint):
    """200 when the token is valid (signature, expiry, not blacklisted); 401 otherwise."""


    @extend_schema(
        operation_id="auth_token_verify",
        tags=["auth"],
        auth=[],
        request=TokenInputSerializer,
        responses={200: None, **error_responses(400, 401, 415, 429)},
    )
    def post(self, request):
        _validated(TokenVerifySerializer(data=request.data, context={"request": request}))
        return Response(status=status.HTTP_200_OK)


class LogoutApi(TokenEndpoint):
    """Blacklist a refresh token: it can no longer be refreshed (access tokens expire on their own)."""


    @extend_schema(
        operation_id="auth_logout",
        tags=["auth"],
        auth=[],
        request=RefreshInputSerializer,
        responses={204: None, **error_responses(400, 401, 415, 429)},
    )
    def post(self, request):
        _validated(TokenBlacklistSerializer(data=request.data, context={"request": request}))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- API keys ---------------------------------------------------------------------------------


class ApiKeySerializer(serializers.Serializer):
    prefix = serializers.CharField(help_text="The key's public part, before the dot; it names the key in URLs.")
    name = serializers.CharField()
    state = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True, help_text="To the minute.")
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    scopes = serializers.SerializerMethodField(help_text="Some of read, write, keys.")

    def get_scopes(self, api_key) -> list[str]:
        return [scope for scope in ApiKey.SCOPES if scope in api_key.scope_set]

    def get_state(self, api_key) -> str:
        from django.utils import timezone

        return api_key.state_at(timezone.now())


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.SerializerMethodField(
        help_text="The full key, shown this once: send it as `Authorization: Api-Key <key>`."
    )

    def get_key(self, api_key) -> str:
        return self.context["key"]


class ApiKeyCreateInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100, help_text="What the key is for, such as the script that uses it.")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Optional; in the future.")
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiKey.SCOPES), required=False, allow_empty=False, min_length=1,
        max_length=3,
        help_text="What the key may do: read (GET), write (uploads, deletes, feedback), keys (manage keys). "
        "Default: read and write. A key making a key needs keys, and gives at most its own scopes.",
    )


class ApiKeyListApi(APIView):
    """The API keys of the caller, revoked and expired ones included."""

    api_key_scope = "keys"

    @extend_schema(
        operation_id="api_keys_list",
        tags=["api keys"],
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(ApiKeySerializer), **error_responses(401, 404)},
    )
    def get(self, request):
        return paginated_response(request, self, selectors.api_keys_for(request.user), ApiKeySerializer)


class ApiKeyCreateApi(APIView):
    """Make an API key; the answer carries the full key, which cannot be shown again."""

    api_key_scope = "keys"

    @extend_schema(
        operation_id="api_keys_create",
        tags=["api keys"],
        request=ApiKeyCreateInputSerializer,
        responses={201: ApiKeyCreatedSerializer, **error_responses(400, 401, 403, 415)},
        examples=[OpenApiExample("A key for a script", value={"name": "nightly import"}, request_only=True)],
    )
    def post(self, request):
        serializer = ApiKeyCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        parent = request.auth if isinstance(request.auth, ApiKey) else None
        api_key, full_key = services.api_key_create(owner=request.user, parent=parent, **serializer.validated_data)
        return Response(ApiKeyCreatedSerializer(api_key, context={"key": full_key}).data, status=status.HTTP_201_CREATED)


class ApiKeyRevokeApi(APIView):
    """Revoke one of the caller's keys (and the keys it made); requests with it get 401 from then on."""

    api_key_scope = "keys"

    @extend_schema(operation_id="api_keys_revoke", tags=["api keys"], responses={204: None, **error_responses(401, 404)})
    def delete(self, request, prefix: str):
        services.api_key_revoke(api_key=selectors.api_key_for(request.user, prefix))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Sign-ins ---------------------------------------------------------------------------------


class SignInSessionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    ip_address = serializers.CharField()
    user_agent = serializers.CharField()


class RefreshTokenSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField()


class SignInsSerializer(serializers.Serializer):
    sessions = SignInSessionSerializer(many=True, help_text="Browser sessions.")
    refresh_tokens = RefreshTokenSerializer(many=True, help_text="Apps signed in through the API.")


class SignInListApi(APIView):
    """The caller's browser sessions and refresh tokens (API keys: /api-keys/)."""

    api_key_scope = "keys"

    @extend_schema(operation_id="sign_ins_list", tags=["auth"], responses={200: SignInsSerializer, **error_responses(401, 403)})
    def get(self, request):
        return Response(SignInsSerializer({
            "sessions": selectors.sign_in_sessions_for(request.user)[:200],
            "refresh_tokens": selectors.refresh_tokens_for(request.user)[:200],
        }).data)


class SignInSessionEndApi(APIView):
    """End one of the caller's browser sessions."""

    api_key_scope = "keys"

    @extend_schema(operation_id="sign_ins_session_end", tags=["auth"], responses={204: None, **error_responses(401, 403, 404)})
    def delete(self, request, session_id: int):
        if not services.sign_in_session_end(user=request.user, session_id=session_id):
            raise NotFound("No such sign-in of yours.")
        return Response(status=status.HTTP_204_NO_CONTENT)


class RefreshTokenRevokeApi(APIView):
    """Revoke one of the caller's refresh tokens."""

    api_key_scope = "keys"

    @extend_schema(operation_id="sign_ins_token_revoke", tags=["auth"], responses={204: None, **error_responses(401, 403, 404)})
    def delete(self, request, token_id: int):
        if not services.refresh_token_revoke(user=request.user, token_id=token_id):
            raise NotFound("No such sign-in of yours.")
        return Response(status=status.HTTP_204_NO_CONTENT)
