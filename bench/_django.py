"""Set up Django for a benchmark script on its own database, `<DATABASE_URL's name>_bench`,
created and migrated when missing, so a benchmark never touches development data.

Call `_django.setup()` when the benchmark runs, before importing models (bench/ is on sys.path
when a script here runs); importing this module does nothing else.
"""

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def setup(*, broker_database: int = 12, migrate: bool = True) -> None:
    """`broker_database`: the Redis database the benchmark's tasks go to: neither the development
    worker's (0) nor the tests' (13 to 15), so a benchmark can share one Redis server with both.
    `migrate=False` in a benchmark's child process, on the database its parent prepared."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Development settings (no SECRET_KEY needed); DEBUG itself is turned off below.
    os.environ.setdefault("DEBUG", "true")
    import django
    import psycopg
    from django.conf import settings
    from django.core.management import call_command

    database = settings.DATABASES["default"]
    if not database["NAME"].endswith("_bench"):
        database["NAME"] += "_bench"
    # Tasks a benchmark queues (an import's search catch-up) go to a Redis database no worker
    # reads: they would run against the development database. A benchmark does that work
    # itself, timed. (Celery reads CELERY_BROKER_URL from the environment before its settings.)
    os.environ["CELERY_BROKER_URL"] = urlunsplit(urlsplit(settings.REDIS_URL)._replace(path=f"/{broker_database}"))
    django.setup()
    # As in production: with DEBUG on, Django keeps every statement of a connection (up to
    # 9,000), and the webhook events an import emits would keep megabytes of JSON in memory.
    settings.DEBUG = False
    if not migrate:  # a benchmark's child process, on the database its parent prepared
        return
    with psycopg.connect(
        dbname="postgres", user=database["USER"], password=database["PASSWORD"] or None,
        host=database["HOST"], port=database["PORT"], autocommit=True,
    ) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database["NAME"]]).fetchone():
            admin.execute(f'CREATE DATABASE "{database["NAME"]}"')
    call_command("migrate", verbosity=0)
