"""Turn the parser's batches into COPY payloads: the SKUs new to the import for products_append(),
the others for products_merge() (imports.upsert). Pure Python, without Django: it runs in the
import's parser process (imports.parser_process), beside the parser."""

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

from imports.parsing import NO_PRICE, Batch

PRODUCT_FIELDS = itemgetter(0, 1, 2, 3)  # of a parser's row: sku, name, description, price, without the line
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@dataclass(frozen=True)
class Payloads:
    """One batch's valid rows, the last of each SKU, as COPY text: `new` for products_append()
    (with their lines apart, in case it must merge them after all), `merge` for products_merge()."""

    new: bytes
    new_count: int
    new_lines: str  # of the rows in `new`, in the same order, one per line: a compact str, not a list
    merge: bytes

    @property
    def new_for_merge(self) -> bytes:
        return staging_payload(self.new, self.new_lines.encode().split(b"\n")) if self.new else b""


class SkuRouter:
    """Sends the rows whose SKU no earlier batch of the import had to products_append(), the
    rest to products_merge(). The importer decides per batch whether it appends the first
    kind or merges them too (Payloads.new_for_merge).

    The SKUs already seen are kept as a one-hash Bloom filter in a fixed 8 MiB, whatever the
    file's size: a SKU is never wrongly called new, and one wrongly called seen (under 1% of
    them at 500k SKUs, 3% at 2M) only takes the slower merge.
    """

    BITS = 1 << 26

    def __init__(self):
        self._seen = bytearray(self.BITS // 8)

    def payloads(self, batch: Batch) -> Payloads:
        payloads = self._payloads(batch.rows)
        batch.rows.clear()  # the payloads hold them now; keep one copy in memory
        return payloads

    def _payloads(self, rows: list[tuple]) -> Payloads:
        # The last row of each SKU, and both payloads sorted by key: work done here, beside the
        # parser, that the database then finds already done (COPY into a unique index in key
        # order is ~25% faster than in file order; the merge's sort checks for presorted input
        # first). The merge still collapses and sorts by PostgreSQL's lower(), which the unique
        # index uses.
        latest = {row[0].lower(): row for row in rows}
        (new_keys, new_rows), (seen_keys, seen_rows) = self._split(latest)
        new_order = _key_order(new_keys)
        return Payloads(
            new=copy_payload(new_rows, new_order, lines=False),
            new_count=len(new_rows),
            new_lines="\n".join(map(itemgetter(4), map(new_rows.__getitem__, new_order))),
            merge=copy_payload(seen_rows, _key_order(seen_keys), lines=True),
        )

    def _split(self, rows_by_key: dict[str, tuple]) -> tuple[tuple[list, list], tuple[list, list]]:
        """The keys and rows as (new keys, their rows), (seen keys, their rows); records the
        keys as seen. File order, which reads memory in sequence."""
        bits, mask = self._seen, self.BITS - 1
        new_keys, new_rows, seen_keys, seen_rows = [], [], [], []
        for key, row in rows_by_key.items():
            position = hash(key) & mask  # a str caches its hash: the dict computed it already
            byte, bit = position >> 3, 1 << (position & 7)
            if bits[byte] & bit:
                seen_keys.append(key)
                seen_rows.append(row)
            else:
                bits[byte] |= bit
                new_keys.append(key)
                new_rows.append(row)
        return (new_keys, new_rows), (seen_keys, seen_rows)


def _key_order(keys: list[str]) -> list[int]:
    """The positions of `keys` in sorted order."""
    return sorted(range(len(keys)), key=keys.__getitem__)


def copy_payload(rows: list[tuple], order: list[int], *, lines: bool) -> bytes:
    """The parser's rows in COPY's text format, in `order`, with their line last for the
    staging table or without it for products_append().

    The rows are already the fields as text, so joining them runs in C; each row's text is
    built in file order and only then put in order, which reads memory in sequence (50,000
    rows: 27 ms; a join per row written in Python took 63 ms, csv.writer 85 ms). Only a field
    holding a tab, newline, CR or backslash needs escaping, which the separators' count
    reveals; then the batch is built again with every field escaped.
    """
    if not rows:
        return b""
    text = _copy_text(rows, order, lines)
    tabs = len(rows) * (4 if lines else 3)
    no_prices = list(map(itemgetter(3), rows)).count(NO_PRICE)  # COPY's \N: the only backslashes expected
    if (text.count("\t"), text.count("\n"), text.count("\\"), "\r" in text) != (tabs, len(rows), no_prices, False):
        text = _copy_text(_escaped(rows), order, lines)
    return text.encode()


def _copy_text(rows: list[tuple], order: list[int], lines: bool) -> str:
    texts = list(map("\t".join, rows if lines else map(PRODUCT_FIELDS, rows)))
    return "\n".join(map(texts.__getitem__, order)) + "\n"


def _escaped(rows: list[tuple]) -> list[tuple]:
    table = COPY_ESCAPES
    return [
        (sku.translate(table), name.translate(table), description.translate(table), price, line)
        for sku, name, description, price, line in rows
    ]


def staging_payload(append_payload: bytes, lines: Sequence[bytes]) -> bytes:
    """An append payload in the staging table's format: each row followed by its line in the
    file, joined in C. (COPY escapes a newline inside a field as a backslash and n: real
    newlines end rows.)"""
    rows = append_payload.split(b"\n")[:-1]
    return b"\n".join(map(b"\t".join, zip(rows, lines))) + b"\n"
