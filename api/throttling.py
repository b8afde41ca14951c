"""API throttling. Its own module: DRF's views module reads the throttle setting when it is
imported, so this one must not import DRF's views."""

from rest_framework.throttling import SimpleRateThrottle

from api.models import ApiToken


class TokenRateThrottle(SimpleRateThrottle):
    """Counts requests per API token (per user for the browser session), across web processes
    through the shared cache. The rate is API_THROTTLE_RATE."""

    scope = "token"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.digest[:32]}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
