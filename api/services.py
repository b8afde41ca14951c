"""Writes of the api app: API tokens are created (the secret returned once) and revoked."""

from django.contrib.auth.models import AbstractBaseUser

from api.models import ApiToken


def api_token_create(*, user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """A new token for `user`; the second value is the secret, which is not stored anywhere."""
    return ApiToken.objects.create(user=user, expiry=None, name=name)


def api_token_revoke(*, user: AbstractBaseUser, digest: str) -> bool:
    """Revoke one of `user`'s tokens; False if it has none with this digest."""
    deleted, _ = ApiToken.objects.filter(user=user, digest=digest).delete()
    return bool(deleted)
