"""Settings for the product importer.

Every value that differs between a laptop and production comes from the environment
(see .env.example). The defaults are production's: DEBUG is off unless `DEBUG=true` turns
development mode on, as `make run` and `make test` do. Database and Redis default to the
servers that `make services` starts.
"""

import json
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# GENERAL
# ------------------------------------------------------------------------------
# Off unless turned on: a deploy that forgets the variable must not show debug pages, run
# on the public development key or let webhooks reach private addresses.
DEBUG = env_bool("DEBUG", False)
_DEVELOPMENT_SECRET_KEY = "dev-insecure-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", _DEVELOPMENT_SECRET_KEY)
if not DEBUG and SECRET_KEY == _DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

# APPS
# ------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.postgres",
    "django.contrib.humanize",
    # Before staticfiles so `runserver` serves static files the way gunicorn does.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_celery_results",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "knox",
    "api",
    "axes",
    "products",
    "imports",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.middleware.StaffRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: turns a refused sign-in into the lockout answer (config.views.login_locked_out).
    "axes.middleware.AxesMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.activity.activity",
            ],
        },
    },
]

# DATABASES
# ------------------------------------------------------------------------------
# The defaults are the project-local servers that `make services` starts (scripts/services.sh).
LOCAL_POSTGRES_PORT = os.environ.get("LOCAL_POSTGRES_PORT", "55432")
LOCAL_REDIS_PORT = os.environ.get("LOCAL_REDIS_PORT", "56379")
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"postgres://importer@127.0.0.1:{LOCAL_POSTGRES_PORT}/importer"),
        # Persistent connections save a connect per request; health checks drop dead ones.
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
# A database host that takes the connection but never answers (a failed-over or overloaded
# server, a black-holed route) would hold a request, a worker or /readyz for the OS's TCP
# timeout, minutes; libpq gives up on the whole connection set-up after this many seconds.
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = int(
    os.environ.get("DATABASE_CONNECT_TIMEOUT", "5")
)
# A worker machine that vanishes sends no FIN: PostgreSQL would keep its sessions, and the import
# locks they hold (imports.services), until the OS gives up on them, two hours by default. These
# make it drop a silent client within about half a minute, whether idle (keepalives), running a
# statement (connection check) or sending (user timeout). Turn them off behind a connection
# pooler that refuses startup options.
if env_bool("DATABASE_DROP_SILENT_CLIENTS", True):
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = " ".join(filter(None, [
        _options.get("options"),
        "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3",
        "-c client_connection_check_interval=10s -c tcp_user_timeout=30s",
    ]))  # fmt: skip

# AUTHENTICATION
# ------------------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"
# django-axes counts failed sign-ins (on /login/ and /admin/login/ alike: it hooks authenticate())
# and refuses the next ones for a while. It counts per user name *and* address, so nobody can lock
# a colleague out from elsewhere, and a successful sign-in starts the count afresh. Behind a proxy
# every client shares the proxy's address and the count becomes per user name.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.views.login_locked_out"
AXES_DISABLE_ACCESS_LOG = True  # only failures are needed; successful sign-ins are not logged
AXES_VERBOSE = False
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# SECURITY
# ------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Production answers only over HTTPS: plain HTTP is redirected, and browsers are told to
# come back over HTTPS only (HSTS). Start with a short HSTS time and raise it (for example to
# 31536000, a year) once HTTPS is known to work, as browsers remember it that long.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "60"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
# Load balancers probe health over plain HTTP on the internal network: no redirect there.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# Trust X-Forwarded-Proto only behind a TLS-terminating proxy that always sets it: anyone
# else could send the header and make a plain-HTTP request look secure.
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# STATIC AND UPLOADED FILES
# ------------------------------------------------------------------------------
STATIC_URL = "static/"
# Where `collectstatic` gathers the files WhiteNoise serves (at build time in the Dockerfile).
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / ".local" / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / ".local" / "media"))
MEDIA_URL = "media/"
# Uploads live in Django storage so web and worker can sit on different machines: set
# STORAGE_BACKEND=storages.backends.s3.S3Storage and STORAGE_OPTIONS='{"bucket_name": ...}'.
STORAGES = {
    "default": {
        "BACKEND": os.environ.get("STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"),
        "OPTIONS": json.loads(os.environ.get("STORAGE_OPTIONS", "{}")),
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        ),
    },
}
# Anything larger than this is streamed to a temporary file instead of held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
IMPORT_MAX_UPLOAD_BYTES = int(os.environ.get("IMPORT_MAX_UPLOAD_BYTES", str(1024**3)))

# CELERY
# ------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", f"redis://127.0.0.1:{LOCAL_REDIS_PORT}/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
# A task is acknowledged only once it finished, and one a dying worker held goes back to
# the queue: every task is written to be safe to run twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# How much lower than the web processes' the worker's CPU priority is (nice, 0-19; config.celery).
WORKER_NICENESS = int(os.environ.get("WORKER_NICENESS", "10"))
# A worker takes one task at a time, so a long import never holds shorter tasks hostage.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis hands an unacknowledged task to another worker after this many seconds. It must be
# longer than the longest task (a multi-million-row import), or that task would run twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "7200")),
}
CELERY_BEAT_SCHEDULE_FILENAME = str(BASE_DIR / ".local" / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {}

# CACHE
# ------------------------------------------------------------------------------
# Shared by every web process, so that API throttling counts a token's requests across them.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

# API
# ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Bearer tokens for scripts; the session (with CSRF) for the browser, e.g. Swagger UI.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    # JSON only: nothing answers an API client with HTML (no browsable API).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": os.environ.get("API_THROTTLE_RATE", "1200/minute")},
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.rest.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "api.rest.IdCursorPagination",
    "PAGE_SIZE": 50,
}
# Tokens are stored as SHA-512 digests; a token lives until staff revoke it. ApiToken adds a name.
KNOX_TOKEN_MODEL = "api.ApiToken"
# knox's own migrations would create its unused AuthToken table, whose foreign key to users
# then keeps `flush` from emptying the database.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {"AUTH_HEADER_PREFIX": "Bearer", "TOKEN_TTL": None}
SPECTACULAR_SETTINGS = {
    "TITLE": "Product importer API",
    "DESCRIPTION": "Import product CSV files, manage the catalogue and its webhooks. "
    "Send `Authorization: Bearer <token>` (tokens: the API tokens page or `manage.py api_token`).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from our own static files (drf-spectacular-sidecar), never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ImportJobStatus": "imports.models.ImportJob.Status",
        # Deliveries and delete-all jobs share these three states: one enum.
        "ResultStatus": "webhooks.models.Delivery.Status",
    },
}

# WEBHOOKS
# ------------------------------------------------------------------------------
# Receivers on loopback/private addresses are refused (SSRF) unless this is on; on by default
# in development so a local receiver works.
WEBHOOKS_ALLOW_PRIVATE_URLS = env_bool("WEBHOOKS_ALLOW_PRIVATE_URLS", DEBUG)
# Host names whose loopback/private addresses the guard accepts even when it is on. For tests
# only (a local HTTPS receiver under a real name); leave empty in production.
WEBHOOKS_SSRF_ALLOWED_HOSTS = env_list("WEBHOOKS_SSRF_ALLOWED_HOSTS", "")
# CA bundle that receivers' certificates are verified with; empty: requests' bundle (certifi).
WEBHOOKS_CA_BUNDLE = os.environ.get("WEBHOOKS_CA_BUNDLE", "")
# Send through the environment's HTTP(S)_PROXY / NO_PROXY. When off, requests connect directly, so
# the SSRF guard approves the very address connected to and the deadline covers the connection.
WEBHOOKS_USE_ENV_PROXIES = env_bool("WEBHOOKS_USE_ENV_PROXIES", False)
# Total time allowed for one delivery attempt (Standard Webhooks / Svix use 15 s).
WEBHOOKS_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOKS_TIMEOUT_SECONDS", "15"))
# Retries wait in the database (next_attempt_at); this sweep enqueues the ones that are due.
CELERY_BEAT_SCHEDULE["webhooks-delivery-sweep"] = {"task": "webhooks.tasks.delivery_sweep", "schedule": 5.0}
# Finished deliveries (with their payloads and attempt logs) are deleted after this many days.
WEBHOOKS_RETENTION_DAYS = int(os.environ.get("WEBHOOKS_RETENTION_DAYS", "30"))
CELERY_BEAT_SCHEDULE["webhooks-delivery-purge"] = {"task": "webhooks.tasks.delivery_purge", "schedule": 3600.0}

# PRODUCTS
# ------------------------------------------------------------------------------
# Imports ask for a search catch-up when they end; this catches up anything a lost task left.
CELERY_BEAT_SCHEDULE["products-search-catch-up"] = {
    "task": "products.tasks.product_search_catch_up_task",
    "schedule": 60.0,
}

# IMPORTS
# ------------------------------------------------------------------------------
# Send again every import that has not ended and that nobody runs (a dead worker, a lost
# message, a database restart; see imports.services): often, as it is one cheap query.
# A sweep still queued when the next is due (the workers all busy importing) is dropped.
CELERY_BEAT_SCHEDULE["imports-recover"] = {
    "task": "imports.tasks.import_jobs_recover_task",
    "schedule": 15.0,
    "options": {"expires": 15.0},
}
# Staged uploads of ended imports are deleted this many days after the upload; the jobs, their
# row errors and errors files stay in the history (a job without its file cannot be retried).
IMPORT_FILE_RETENTION_DAYS = int(os.environ.get("IMPORT_FILE_RETENTION_DAYS", "30"))
CELERY_BEAT_SCHEDULE["imports-files-purge"] = {"task": "imports.tasks.import_files_purge_task", "schedule": 3600.0}

# LOGGING
# ------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # django-axes logs every sign-in at INFO; failures and lockouts are its warnings.
    "loggers": {"axes": {"level": "WARNING"}},
}
