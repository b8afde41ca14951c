"""Set up Django for a benchmark script, refusing any database not named *_bench."""

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

database = urlsplit(os.environ.get("DATABASE_URL", "")).path.lstrip("/")
if not database.endswith("_bench"):
    sys.exit("Point DATABASE_URL at a benchmark database whose name ends in _bench (createdb importer_products_bench).")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0)
