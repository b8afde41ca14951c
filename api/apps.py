from django.apps import AppConfig


class ApiConfig(AppConfig):
    """What every app's API shares: tokens, authentication, errors, throttling and the /api/ URLs.

    Each app's own endpoints live in its `api.py`; only cross-cutting pieces are here.
    """

    name = "api"
    verbose_name = "API"
