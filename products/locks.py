"""One PostgreSQL advisory lock guards the catalogue against bulk writes racing each other.

Imports hold it shared for their whole run (several may run at once); "delete all" takes it
exclusively, so it never empties the table under a running import, and an import that starts
during a delete waits for the delete to finish instead of writing into a half-empty catalogue.
"""

import pglock

from config import locks


def catalogue_shared_lock() -> pglock.advisory:
    """Hold the catalogue lock shared, across transactions, for the duration of the block."""
    return pglock.advisory(locks.CATALOGUE, shared=True)


def catalogue_exclusive_lock_try() -> bool:
    """Take the lock exclusively until the current transaction ends; False if anyone holds it."""
    return pglock.advisory(locks.CATALOGUE, xact=True, timeout=0).acquire()
