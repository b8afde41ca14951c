"""Turn the parser's batches into COPY payloads: the SKUs new to the import for
products_bulk_append(), the others for products_bulk_merge() (products.bulk). Pure Python,
without Django: it runs in the import's parser process (imports.parser_process)."""

from array import array
from bisect import bisect_left
from dataclasses import dataclass
from functools import partial
from operator import itemgetter

from imports.parsing import Batch
from products.columns import COPY_ESCAPES, IMPORT_COLUMNS, NULL

PRODUCT_FIELDS = itemgetter(*range(len(IMPORT_COLUMNS)))  # of a parser's row: without its line
LINE = itemgetter(len(IMPORT_COLUMNS))
# The fields COPY gets NULL in, and the free-text fields that may need escaping.
NULLABLE = [index for index, column in enumerate(IMPORT_COLUMNS) if column.empty == NULL]
TEXT = frozenset(index for index, column in enumerate(IMPORT_COLUMNS) if column.parse is None)
ESCAPES = str.maketrans(COPY_ESCAPES)
COPY_SPECIALS = "".join(COPY_ESCAPES).encode()  # the bytes COPY_ESCAPES escapes


@dataclass(frozen=True)
class Payloads:
    """One batch's valid rows, the last of each SKU, as COPY text: `new` for products_bulk_append()
    (SKUs the file has not had before, with their lines apart in case they are merged after all),
    `merge` for products_bulk_merge() (SKUs an earlier batch had: each row supersedes one).
    `duplicates` counts the batch's rows superseded by a later row of the same batch.
    `merge_at` says where each row of `merge` goes among `new`'s in key order (how many come
    before it), so that a merge of both can stage them as one sorted run.

    Made only for an import whose new products are announced: `new_events`, the rows of `new`
    as their product.created events keep them (product_rows_events)."""

    new: bytes
    new_count: int
    new_lines: str  # of the rows in `new`, in the same order, one per line: a compact str, not a list
    merge: bytes
    duplicates: int
    merge_at: list[int]
    new_events: list[bytes] | None = None


# A batch without rows, to merge what the importer still holds (imports.pipeline).
NO_ROWS = Payloads(new=b"", new_count=0, new_lines="", merge=b"", duplicates=0, merge_at=[])


class SkuRouter:
    """Sends the rows whose SKU no earlier batch of the import had to products_bulk_append(), the
    rest to products_bulk_merge(). The importer decides per batch whether it appends the first
    kind or merges them too (products_bulk_merge takes both payloads).

    The SKUs already seen are kept as their 64-bit hashes in an open-addressing table (8 MiB for
    the first 786k SKUs, doubling when three quarters full): exact, so the import can count a
    repeated SKU as a duplicate, at a fraction of what a set of strings would hold in memory
    (64 MiB for up to 6M SKUs, and the old table beside the new one while it grows). With `events` it
    also makes what announcing the new rows takes (Payloads.new_events), on the parser's core.
    """

    SLOTS = 1 << 20

    def __init__(self, *, events: bool = False):
        self._table = _zeros(self.SLOTS)
        self._count = 0
        self._events = None
        if events:
            # Only here: the parser process starts before every import's first write, and most
            # imports announce nothing (the module loads json, lz4 and datetime).
            from products.events import product_rows_events

            self._events = product_rows_events

    def payloads(self, batch: Batch) -> Payloads:
        payloads = self._payloads(batch.rows)
        batch.rows.clear()  # the payloads hold them now; keep one copy in memory
        return payloads

    def _payloads(self, rows: list[tuple]) -> Payloads:
        # The last row of each SKU, and both payloads sorted by key: work done here, beside the
        # parser, that the database then finds already done (COPY into a unique index is faster
        # in key order, and the merge's sort checks for presorted input first). The merge still
        # collapses and sorts by PostgreSQL's lower(), which the unique index uses.
        latest = {row[0].lower(): row for row in rows}
        duplicates = len(rows) - len(latest)
        seen_keys, seen_rows = self._split(latest)
        new_keys, new_rows = list(latest), list(latest.values())
        new_order, new_encoded = _key_order(new_keys)
        seen_order, seen_encoded = _key_order(seen_keys)
        new = copy_payload(new_rows, new_order, lines=False)
        return Payloads(
            new=new,
            new_count=len(new_rows),
            new_lines="\n".join(map(LINE, map(new_rows.__getitem__, new_order))),
            merge=copy_payload(seen_rows, seen_order, lines=True),
            duplicates=duplicates,
            merge_at=_merge_at(new_encoded, new_order, seen_encoded, seen_order),
            new_events=self._events(new) if self._events else None,
        )

    def _split(self, rows_by_key: dict[str, tuple]) -> tuple[list, list]:
        """Take the rows of keys an earlier batch had out of `rows_by_key`, as (their keys, their
        rows), and record the others as seen. The loop stores new keys only: they are most."""
        while 4 * (self._count + len(rows_by_key)) > 3 * len(self._table):
            self._grow()
        table, mask = self._table, len(self._table) - 1
        seen_keys = []
        for key in rows_by_key:
            fingerprint = hash(key) or 1  # a str caches its hash: the dict computed it already
            slot = fingerprint & mask
            while (stored := table[slot]) and stored != fingerprint:
                slot = (slot + 1) & mask
            if stored:
                seen_keys.append(key)
            else:
                table[slot] = fingerprint
        self._count += len(rows_by_key) - len(seen_keys)
        return seen_keys, list(map(rows_by_key.pop, seen_keys))

    def _grow(self) -> None:
        old, self._table = self._table, _zeros(2 * len(self._table))
        table, mask = self._table, len(self._table) - 1
        for fingerprint in filter(None, old):
            slot = fingerprint & mask
            while table[slot]:
                slot = (slot + 1) & mask
            table[slot] = fingerprint


def _zeros(slots: int) -> array:
    # Repeating a one-item array allocates the table once; array("q", bytes(n)) held the bytes
    # and their copy at the same time (a parser peak of 237 MB at 5M rows instead of ~140).
    return array("q", [0]) * slots


def _key_order(keys: list[str]) -> tuple[list[int], list[bytes]]:
    """The positions of `keys` in sorted order, and the keys as UTF-8. Sorted as UTF-8, which
    orders them as their code points do, and bytes compare faster than a mix of one- and two-byte
    strs."""
    encoded = list(map(str.encode, keys))
    return sorted(range(len(encoded)), key=encoded.__getitem__), encoded


def _merge_at(new: list[bytes], new_order: list[int], seen: list[bytes], seen_order: list[int]) -> list[int]:
    """For each seen key in sorted order, how many new keys sort before it (none equals it)."""
    if not seen_order:
        return []
    before = partial(bisect_left, list(map(new.__getitem__, new_order)))
    return list(map(before, map(seen.__getitem__, seen_order)))


def copy_payload(rows: list[tuple], order: list[int], *, lines: bool) -> bytes:
    """The parser's rows in COPY's text format, in `order`, with their line last (the SKUs an
    earlier batch had) or without it (for products_bulk_append()).

    The rows are already the fields as text, so joining them runs in C. Each row is encoded on
    its own, in file order, and only the bytes are put in order: a batch's text as one str would
    take two bytes a character wherever one row holds a non-Latin letter. Only a field holding a
    tab, newline, CR or backslash needs escaping, which a count of those bytes beyond the
    separators and NULLs reveals; then the batch is built again with every text field escaped.
    """
    if not rows:
        return b""
    payload = _copy_text(rows, order, lines)
    tabs = len(rows) * (len(IMPORT_COLUMNS) if lines else len(IMPORT_COLUMNS) - 1)
    nulls = sum(list(map(itemgetter(index), rows)).count(NULL) for index in NULLABLE)  # the only backslashes expected
    if len(payload) - len(payload.translate(None, COPY_SPECIALS)) != tabs + len(rows) + nulls:
        payload = _copy_text(_escaped(rows), order, lines)
    return payload


def _copy_text(rows: list[tuple], order: list[int], lines: bool) -> bytes:
    texts = list(map(str.encode, map("\t".join, rows if lines else map(PRODUCT_FIELDS, rows))))
    return b"\n".join(map(texts.__getitem__, order)) + b"\n"


def _escaped(rows: list[tuple]) -> list[tuple]:
    table = ESCAPES
    return [tuple(field.translate(table) if index in TEXT else field for index, field in enumerate(row)) for row in rows]
