"""SkuRouter: which rows of a batch carry SKUs an earlier batch of the import had."""

from imports.parsing import Batch
from imports.payloads import SkuRouter
from products.columns import IMPORT_COLUMNS, NULL


def batch_of(skus: list[str], first_line: int) -> Batch:
    others = [NULL] * (len(IMPORT_COLUMNS) - 2)  # after the SKU and the name
    rows = [(sku, f"Name {sku}", *others, str(line)) for line, sku in enumerate(skus, first_line)]
    return Batch(rows=rows, rows_read=len(rows))


def test_seen_skus_are_told_apart_exactly_across_many_growths_of_the_table(monkeypatch):
    """From a table of 8 slots grown to thousands, every SKU is new once and seen after, in any case."""
    monkeypatch.setattr(SkuRouter, "SLOTS", 8)
    router = SkuRouter()
    line = 2
    for start in range(0, 3_000, 500):
        fresh = [f"SKU-{number}" for number in range(start, start + 500)]
        again = [f"sku-{number}" for number in range(0, start, 7)]  # earlier batches' SKUs, lowered
        payloads = router.payloads(batch_of(fresh + again, line))
        line += len(fresh) + len(again)
        assert payloads.new_count == len(fresh)
        assert payloads.merge.count(b"\n") == len(again)
    assert len(router._table) >= 3_000 * 4 // 3


def test_each_repeated_row_is_placed_among_the_new_rows_by_its_key():
    """merge_at counts, for each repeated row in key order, the new rows whose keys sort before it."""
    router = SkuRouter()
    router.payloads(batch_of(["b-1", "D-2", "f-3", "zz-4"], 2))
    payloads = router.payloads(batch_of(["e-5", "Zz-4", "c-6", "B-1", "a-7", "g-8", "F-3"], 6))
    assert payloads.new.split(b"\n")[0].startswith(b"a-7\t")
    assert [row.split(b"\t")[0] for row in payloads.merge.splitlines()] == [b"B-1", b"F-3", b"Zz-4"]
    # new rows in key order: a-7, c-6, e-5, g-8
    assert payloads.merge_at == [1, 3, 4]
