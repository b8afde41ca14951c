"""One PostgreSQL advisory lock guards the catalogue against bulk writes racing each other.

Imports hold it shared for their whole run (several may run at once); "delete all" takes it
exclusively, so it never empties the table under a running import, and an import that starts
during a delete waits for the delete to finish instead of writing into a half-empty catalogue.
"""

from contextlib import contextmanager

from django.db import connection

# An arbitrary constant that names this lock among the database's advisory locks.
CATALOGUE_LOCK_KEY = 7_240_001


@contextmanager
def catalogue_shared_lock():
    """Hold the catalogue lock shared, across transactions, for the duration of the block."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock_shared(%s)", [CATALOGUE_LOCK_KEY])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_shared(%s)", [CATALOGUE_LOCK_KEY])


def catalogue_exclusive_lock_try() -> bool:
    """Take the lock exclusively until the current transaction ends; False if anyone holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [CATALOGUE_LOCK_KEY])
        return cursor.fetchone()[0]
