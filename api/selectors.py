"""Reads of the api app."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from api.models import ApiToken


def api_token_list(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)
