"""Every PostgreSQL advisory lock the project takes, by name: one key space, no magic numbers elsewhere.

Locks are taken with django-pglock (`pglock.advisory`). A session lock dies with its database
connection, so a killed process never leaves one behind for long; a transaction lock ends with
its transaction. The keys are arbitrary bigints that only need to differ from each other.
"""

# Imports hold it shared while they write; "delete all" takes it exclusively (products.locks).
CATALOGUE = 7_240_001
# A single search catch-up at a time (products.search).
SEARCH_CATCH_UP = 7_240_003
# The high 32 bits of every import job's lock; the job's id is the low 32 bits.
_IMPORT_JOB_RANGE = 7_240_002


def import_job(job_id: int) -> int:
    """The key of the lock a run of this import job holds (imports.services)."""
    return (_IMPORT_JOB_RANGE << 32) | job_id
