"""API key scopes, checked on every API view (REST_FRAMEWORK's DEFAULT_PERMISSION_CLASSES)."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.models import ApiKey


class ApiKeyScopes(BasePermission):
    """A request made with an API key needs the key's "read" scope for a safe method, "write" for
    any other, and the scope a view names in `api_key_scope` (the key views: "keys"). JWTs and
    sessions are the person themself: no scope applies."""

    message = "This API key lacks the scope for this request."

    def has_permission(self, request, view) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True
        needed = getattr(view, "api_key_scope", None) or ("read" if request.method in SAFE_METHODS else "write")
        if needed in api_key.scope_set:
            return True
        self.message = f"This API key lacks the {needed} scope (it has: {', '.join(sorted(api_key.scope_set))})."
        return False
