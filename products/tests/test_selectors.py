import pytest
from django.db import connection

from products import selectors
from products.models import Product
from products.selectors import ProductFilters, ProductSort, product_filter, product_page
from products.tests.factories import product_make

pytestmark = pytest.mark.django_db


def skus(filters: ProductFilters) -> list[str]:
    return [product.sku for product in product_filter(filters=filters).order_by("id")]


def pages_shown(filters: ProductFilters, *, total: str) -> list[str]:
    """The SKUs of every page of two, from the first until one has no next, each totalled `total`."""
    shown, number = [], 1
    while True:
        page = product_page(filters=filters, number=number, per_page=2)
        assert str(page.total) == total
        shown += [product.sku for product in page.products]
        if not page.has_next:
            return shown
        number += 1


def answers_spied(monkeypatch, name: str) -> list:
    """What each call of the selectors' function `name` answers, in a list kept up to date."""
    answers, function = [], getattr(selectors, name)
    monkeypatch.setattr(selectors, name, lambda *args, **kwargs: answers.append(function(*args, **kwargs)) or answers[-1])
    return answers


@pytest.fixture
def catalogue():
    product_make("TEAK-1", "Rustic Teak Stool", "Solid teak, oiled by hand.")
    product_make("oak-2", "Oak Table", "Durable oak top with steel legs.", active=False)
    product_make("STL-3", "Steel Lamp", "A lamp for the desk; teak shade.")


def test_sku_filter_is_case_insensitive_contains(catalogue):
    """SKU matches anywhere in the SKU, whatever the letter case."""
    assert skus(ProductFilters(sku="eak")) == ["TEAK-1"]
    assert skus(ProductFilters(sku="OAK-")) == ["oak-2"]


def test_name_filter_is_case_insensitive_contains(catalogue):
    """Name matches anywhere in the name, whatever the letter case."""
    assert skus(ProductFilters(name="TEAK st")) == ["TEAK-1"]
    assert skus(ProductFilters(name="lamp")) == ["STL-3"]


def test_sku_and_name_filters_do_not_match_the_other_column(catalogue):
    """A SKU term found only in a name (or the reverse) does not match."""
    assert skus(ProductFilters(sku="stool")) == []
    assert skus(ProductFilters(name="stl-")) == []


def test_description_filter_matches_all_words_in_any_form(catalogue):
    """Every word typed must be in the description, in any order, case or grammatical form."""
    assert skus(ProductFilters(description="TEAK")) == ["TEAK-1", "STL-3"]
    assert skus(ProductFilters(description="leg oak")) == ["oak-2"]
    assert skus(ProductFilters(description="teak durable")) == []
    assert skus(ProductFilters(description="tea")) == []


def test_description_filter_ignores_punctuation(catalogue):
    """Characters with a meaning in tsquery syntax are dropped, never an error."""
    assert skus(ProductFilters(description="teak & | ! :* ('")) == ["TEAK-1", "STL-3"]
    assert skus(ProductFilters(description="&|!")) == ["TEAK-1", "oak-2", "STL-3"]


def test_active_filter(catalogue):
    """Active and inactive products filter apart."""
    assert skus(ProductFilters(active=True)) == ["TEAK-1", "STL-3"]
    assert skus(ProductFilters(active=False)) == ["oak-2"]


def test_combined_filters_must_all_match(catalogue):
    """Filters combine with AND."""
    assert skus(ProductFilters(description="teak", name="lamp")) == ["STL-3"]
    assert skus(ProductFilters(description="teak", active=False)) == []
    assert skus(ProductFilters(sku="o", name="table", description="durable", active=False)) == ["oak-2"]


def test_page_counts_and_bounds():
    """Pages hold per_page products in id order and say which rows they show."""
    for number in range(7):
        product_make(f"P-{number}")
    page = product_page(filters=ProductFilters(), number=2, per_page=3)
    assert [product.sku for product in page.products] == ["P-3", "P-4", "P-5"]
    assert (page.start, page.end, str(page.total), page.num_pages) == (4, 6, "7", 3)
    assert page.has_previous and page.has_next


def test_page_past_the_end_shows_the_last_page():
    """Asking for page 99 of 3 shows page 3."""
    for number in range(7):
        product_make(f"P-{number}")
    page = product_page(filters=ProductFilters(), number=99, per_page=3)
    assert page.number == 3
    assert [product.sku for product in page.products] == ["P-6"]
    assert not page.has_next


def test_empty_catalogue_is_one_empty_page():
    """No products: page 1 of 1, showing nothing."""
    page = product_page(filters=ProductFilters(), number=5, per_page=25)
    assert (page.number, page.start, page.end, page.num_pages, page.has_next) == (1, 0, 0, 1, False)


@pytest.mark.parametrize("walk_limit", [100_000, 0], ids=["primary key walk", "fetch and sort"])
def test_broad_filter_count_is_capped(monkeypatch, walk_limit):
    """Past the cap the total reads "N+" and pages go on with Next only, whichever plan is used."""
    monkeypatch.setattr(selectors, "FILTERED_COUNT_CAP", 4)
    monkeypatch.setattr(selectors, "PRIMARY_KEY_WALK_LIMIT", walk_limit)
    for number in range(6):
        product_make(f"P-{number}", name="Chair")
    page = product_page(filters=ProductFilters(name="chair"), number=2, per_page=2)
    assert str(page.total) == "4+"
    assert page.num_pages is None
    assert [product.sku for product in page.products] == ["P-2", "P-3"]
    assert page.has_next
    page = product_page(filters=ProductFilters(name="chair"), number=3, per_page=2)  # past the ids found
    assert [product.sku for product in page.products] == ["P-4", "P-5"]
    assert not page.has_next


def test_large_catalogue_total_is_the_planner_estimate(monkeypatch):
    """Unfiltered, a big table's total comes from PostgreSQL's statistics, labelled "about"."""
    product_make("P-1")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE products_product")
    monkeypatch.setattr(selectors, "EXACT_COUNT_BELOW", 1)
    total = selectors.product_catalogue_total()
    assert (total.kind, str(total)) == ("about", "about 1")


def _analyze_products():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE products_product")


def _products_add(count: int, prefix: str):
    from products.models import Product

    Product.objects.bulk_create(Product(sku=f"{prefix}-{number}", name="Oak Stool") for number in range(count))


def test_catalogue_estimate_follows_a_table_grown_since_its_statistics(monkeypatch):
    """Products added after ANALYZE count in the estimate (rows per page times pages now), and
    the list does not count the table because its statistics are old."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with connection.cursor() as cursor:
        # Earlier tests' rolled-back rows leave pages no row fills until a VACUUM, which would
        # count in the pages now and thin the rows per page: start from an empty file instead.
        cursor.execute("TRUNCATE products_product CASCADE")
    _products_add(2_000, "OLD")
    _analyze_products()
    _products_add(2_000, "NEW")
    monkeypatch.setattr(selectors, "EXACT_COUNT_BELOW", 1_000)
    with CaptureQueriesContext(connection) as queries:
        total = selectors.product_catalogue_total()
    assert total.kind == "about" and 3_600 <= total.value <= 4_400, total
    assert not any("COUNT(" in query["sql"].upper() for query in queries.captured_queries)


def test_catalogue_with_stale_small_statistics_counts_at_most_the_exact_limit(monkeypatch):
    """Statistics taken when the table was nearly empty make the list count, but never past
    EXACT_COUNT_BELOW: beyond it the total says "N+"."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    product_make("P-1")
    _analyze_products()
    _products_add(3_000, "NEW")
    monkeypatch.setattr(selectors, "EXACT_COUNT_BELOW", 1_000)
    with CaptureQueriesContext(connection) as queries:
        total = selectors.product_catalogue_total()
    assert (total.kind, str(total)) == ("at_least", "1,000+")
    (count,) = [query["sql"] for query in queries.captured_queries if "COUNT(" in query["sql"].upper()]
    assert "LIMIT 1001" in count
    monkeypatch.setattr(selectors, "EXACT_COUNT_BELOW", 5_000)
    assert selectors.product_catalogue_total() == selectors.Total(value=3_001, kind="exact")


def page_skus(**kwargs) -> list[str]:
    defaults = {"filters": ProductFilters(), "number": 1, "per_page": 50}
    return [product.sku for product in product_page(**{**defaults, **kwargs}).products]


def test_sku_order_ignores_letter_case_both_ways(catalogue):
    """SKU order is the unique index's: lowered, byte by byte; "-sku" reverses it."""
    assert page_skus(sort=ProductSort.parse("sku")) == ["oak-2", "STL-3", "TEAK-1"]
    assert page_skus(sort=ProductSort.parse("-sku")) == ["TEAK-1", "STL-3", "oak-2"]


def test_other_orders_sort_a_small_list_with_ties_in_id_order(catalogue):
    """Name, price and updated sort an exactly counted list; equal values keep the import order."""
    product_make("ZZ-4", "Aardvark Mat", price=None)
    assert page_skus(sort=ProductSort.parse("name")) == ["ZZ-4", "oak-2", "TEAK-1", "STL-3"]
    assert page_skus(sort=ProductSort.parse("-price"), filters=ProductFilters(name="a")) == [
        "TEAK-1", "oak-2", "STL-3", "ZZ-4"  # all 9.99, then no price last
    ]
    assert page_skus(sort=ProductSort.parse("-updated"))[0] == "ZZ-4"


def test_other_orders_are_refused_past_the_exact_count(catalogue, monkeypatch):
    """A list counted only as "10,000+" falls back to id order and says the sort was refused; SKU order stays."""
    monkeypatch.setattr(selectors, "FILTERED_COUNT_CAP", 2)
    page = product_page(filters=ProductFilters(name="e"), number=1, per_page=50, sort=ProductSort.parse("name"))
    assert (page.sort_refused, page.sort, [p.sku for p in page.products]) == (True, ProductSort(), ["TEAK-1", "oak-2", "STL-3"])
    page = product_page(filters=ProductFilters(name="e"), number=1, per_page=50, sort=ProductSort.parse("-sku"))
    assert (page.sort_refused, [p.sku for p in page.products]) == (False, ["TEAK-1", "STL-3", "oak-2"])


def test_sku_taken_names_the_existing_spelling(catalogue):
    """Another letter case finds the product as the catalogue spells it, unless it is the product itself."""
    oak = product_filter(filters=ProductFilters(sku="oak")).get()
    assert selectors.product_sku_taken(sku=" OAK-2 ") == "oak-2"
    assert selectors.product_sku_taken(sku="OAK-2", exclude_pk=oak.pk) is None


def test_a_sku_term_looks_up_its_rare_part_and_still_matches_the_whole_term():
    """Where statistics say every SKU holds "sku-", the index looks up the term's digits only,
    and the list still finds exactly the products whose SKU holds the whole term."""
    for number in range(300):
        product_make(f"SKU-{number:05d}", name=f"Item {number}")
    product_make("XYZ-00012", name="Other")  # holds "0001" but not "sku-0001"
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE products_productsearch")
    assert selectors._lookup(ProductFilters(sku="sku-0001")).index_terms == {"sku": "0001"}
    assert selectors._lookup(ProductFilters(name="stool")).index_terms == {"name": "stool"}  # one run: the whole term
    expected = list(Product.objects.filter(sku__icontains="sku-0001").order_by("id").values_list("sku", flat=True))
    assert len(expected) == 10
    assert skus(ProductFilters(sku="sku-0001")) == expected
    assert [product.sku for product in product_page(filters=ProductFilters(sku="SKU-0001"), number=1, per_page=25).products] == expected


def test_inactive_filter_past_the_estimate_limit_is_labelled_with_the_estimate_and_pages_by_id(monkeypatch):
    """The active filter alone, estimated past the limit, says "about N" and pages through
    exactly the products the plain filter finds, in id order."""
    monkeypatch.setattr(selectors, "ESTIMATED_ACTIVE_FILTER_ABOVE", 5)
    for number in range(30):
        product_make(f"P-{number:02d}", active=number % 3 != 0)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE products_product")
    expected = list(Product.objects.filter(active=False).order_by("id").values_list("sku", flat=True))
    first = product_page(filters=ProductFilters(active=False), number=1, per_page=4)
    assert first.total.kind == "about"
    assert first.num_pages is not None
    shown = []
    for number in range(1, 5):
        page = product_page(filters=ProductFilters(active=False), number=number, per_page=4)
        shown += [product.sku for product in page.products]
        assert page.has_next == (number < 3)
    assert shown == expected
    monkeypatch.setattr(selectors, "ESTIMATED_ACTIVE_FILTER_ABOVE", 10_000)  # an estimate below it: counted
    assert str(product_page(filters=ProductFilters(active=False), number=1, per_page=4).total) == "10"


def test_a_common_word_with_a_rarer_name_is_checked_on_the_names_candidates_with_the_same_matches():
    """Statistics saying "durable" is commoner than "oak": the words are rechecked on the name's
    candidates instead of read from the full-text index, and the matches stay the plain filter's."""
    for number in range(200):
        material = "Oak" if number % 10 == 0 else "Pine"
        words = "durable finish" if number % 3 else "soft touch"
        product_make(f"P-{number:03d}", name=f"{material} table", description=words, active=number % 4 != 0)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE products_productsearch")
    combined = ProductFilters(name="oak", description="Durable", active=False)
    assert not selectors._lookup(combined).words_drive
    assert selectors._lookup(ProductFilters(name="table", description="soft")).words_drive
    expected = Product.objects.filter(
        name__icontains="oak", description__icontains="durable", active=False
    ).order_by("id").values_list("sku", flat=True)
    assert len(expected) > 0
    assert skus(combined) == list(expected)
    assert [product.sku for product in product_page(filters=combined, number=1, per_page=25).products] == list(expected)


def test_a_rare_word_with_a_common_name_rechecks_the_words_rows_for_the_name_with_the_same_matches():
    """Statistics saying "quixotic" is far rarer than "table": the name is rechecked on the word's
    rows instead of read from the trigram index, and the matches stay the plain filter's."""
    for number in range(200):
        words = "quixotic finish" if number % 50 in (7, 8) else "durable finish"
        product_make(f"P-{number:03d}", name="Oak table" if number % 2 else "Pine stool", description=words)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE products_productsearch")
    combined = ProductFilters(name="TABLE", description="Quixotic")
    assert not selectors._lookup(combined).terms_indexed
    assert selectors._lookup(ProductFilters(name="table", description="durable")).terms_indexed
    plain = Product.objects.filter(name__icontains="table", description__icontains="quixotic").order_by("id")
    expected = list(plain.values_list("sku", flat=True))
    assert expected == ["P-007", "P-057", "P-107", "P-157"]
    assert skus(combined) == expected
    assert [product.sku for product in product_page(filters=combined, number=1, per_page=25).products] == expected


def test_a_page_reads_the_statistics_and_the_words_stems_once(catalogue):
    """However many queries a filtered page runs (a backlog, a capped count, a walk), it reads
    pg_stats once and stems the description once; the next page reuses the statistics. Both
    find what the plain filter finds."""
    from django.test.utils import CaptureQueriesContext

    from products.tests.factories import products_import_make

    products_import_make(("OAK-9", "Oak Bench", "A durable oak bench."))  # in the search backlog
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE products_productsearch")
    filters = ProductFilters(sku="oak-", name="oak", description="durable oak")
    expected = list(
        Product.objects.filter(sku__icontains="oak-", name__icontains="oak", description__icontains="durable")
        .order_by("id").values_list("sku", flat=True)
    )
    assert expected == ["oak-2", "OAK-9"]
    pages = []
    for number in (1, 2):
        with CaptureQueriesContext(connection) as queries:
            pages.append(product_page(filters=filters, number=number, per_page=1))
        statements = [query["sql"] for query in queries.captured_queries]
        assert sum("pg_stats" in sql for sql in statements) == (1 if number == 1 else 0)
        assert sum("to_tsvector" in sql and "unnest" in sql for sql in statements) == 1
    assert [[product.sku for product in page.products] for page in pages] == [expected[:1], expected[1:]]
    assert pages[0].has_next and not pages[1].has_next


@pytest.mark.parametrize("walk_limit", [100_000, 0], ids=["primary key walk", "fetch and sort"])
@pytest.mark.parametrize("probe_ids", [4, 1_000], ids=["newest ids read first", "newest ids not read first"])
def test_matches_bunched_in_the_newest_ids_page_as_the_plain_filter(monkeypatch, walk_limit, probe_ids):
    """A SKU term most of the newest products hold (and one old product too) is counted as
    "N+" and paged in id order exactly as the plain filter finds it, whether or not its
    matches are first looked for among the newest ids."""
    monkeypatch.setattr(selectors, "FILTERED_COUNT_CAP", 4)
    monkeypatch.setattr(selectors, "PRIMARY_KEY_WALK_LIMIT", walk_limit)
    monkeypatch.setattr(selectors, "BUNCH_PROBE_IDS", probe_ids)
    for number in range(20):
        product_make(f"P-{number:02d}", name="Chair")
        if number == 3:
            product_make("OLD-BUNCH-0", name="Chair")
    for number in range(1, 13):
        product_make(f"BUNCH-{number:02d}", name="Chair")
    expected = list(Product.objects.filter(sku__icontains="bunch").order_by("id").values_list("sku", flat=True))
    assert len(expected) == 13
    newest_found = answers_spied(monkeypatch, "_found_among_the_newest")
    assert pages_shown(ProductFilters(sku="Bunch"), total="4+") == expected
    assert newest_found and all(newest_found) == (probe_ids == 4)  # the newest ids answered the count, or never


def test_a_run_of_matches_shorter_than_the_newest_window_is_not_walked_as_a_bunch(monkeypatch):
    """A name the newest two products share, but not the ids spread over the newest window, is
    counted by the one pass through the search indexes (no walk of the newest ids first), and
    pages as the plain filter finds it."""
    monkeypatch.setattr(selectors, "FILTERED_COUNT_CAP", 4)  # the newest window: 8 ids
    monkeypatch.setattr(selectors, "BUNCH_PROBE_IDS", 4)  # every other id of the window
    for number in range(30):
        product_make(f"P-{number:02d}", name="Teak Stool" if number % 5 == 1 else "Oak Chair")
    product_make("P-30", name="Pine Stool")
    product_make("P-31", name="Pine Stool")
    expected = list(Product.objects.filter(name__icontains="stool").order_by("id").values_list("sku", flat=True))
    assert len(expected) == 8
    passes, read = [], selectors._ids_read
    monkeypatch.setattr(selectors, "_ids_read", lambda ids, **kwargs: passes.append(ids) or read(ids, **kwargs))
    assert pages_shown(ProductFilters(name="Stool"), total="4+") == expected
    assert passes and not any('"product_id" >' in str(ids.query) for ids in passes)  # no newest ids' bound


def test_deep_pages_in_sku_order_start_from_the_statistics_and_match_the_plain_order(monkeypatch):
    """Deep pages of the whole catalogue in SKU order, both ways, are the plain ORDER BY's pages,
    whether they start at a key of the index's histogram or (statistics older than the catalogue
    put that key past the page) skip from the first key."""
    from django.test.utils import CaptureQueriesContext

    from products.models import sku_key

    monkeypatch.setattr(selectors, "EXACT_COUNT_BELOW", 1)  # the total is the estimate, as past 100,000
    for number in range(240):
        product_make(f"{'abc'[number % 3]}-{(number * 37) % 240:03d}-{'Ä' if number % 5 == 0 else 'x'}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE products_product")
    for number in range(60):  # after the statistics: keys before all of theirs (the estimate follows the pages)
        product_make(f"0-{number:03d}")
    counted = []
    for descending in (False, True):
        expected = list(
            Product.objects.order_by(sku_key().desc() if descending else sku_key().asc()).values_list("sku", flat=True)
        )
        for number in range(1, len(expected) // 7 + 2):  # to the last page (300 / 7)
            with CaptureQueriesContext(connection) as queries:
                page = product_page(
                    filters=ProductFilters(), number=number, per_page=7, sort=ProductSort(descending=descending, field="sku")
                )
            counted += ["COUNT(" in query["sql"].upper() for query in queries.captured_queries]
            assert [product.sku for product in page.products] == expected[(number - 1) * 7 : number * 7]
            assert page.has_next == (number * 7 < len(expected))
    assert any(counted)


def test_a_term_with_the_inactive_filter_reads_the_inactive_rows_trigram_index(catalogue):
    """The inactive filter with a name or SKU term can find its candidates in the trigram index of
    the inactive rows alone (its condition matches the filter's), and finds the plain filter's."""
    from products.models import ProductSearch

    product_make("OAK-3", "Oak Shelf", "Durable.", active=True)
    filters = ProductFilters(name="oak", active=False)
    rows = selectors.product_search_filter(filters=filters).order_by().values_list("product_id")
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row for (row,) in cursor.fetchall())
    assert ProductSearch._meta.indexes[-1].name == "productsearch_inactive_trgm"
    assert "productsearch_inactive_trgm" in plan, plan
    assert skus(filters) == ["oak-2"]
    assert skus(ProductFilters(name="oak", description="durable", active=False)) == ["oak-2"]


@pytest.mark.parametrize("active", [None, True], ids=["SKU term alone", "with the active filter"])
def test_a_sku_term_beginning_skus_pages_within_their_ids_first_as_the_plain_filter(monkeypatch, active):
    """Past the cap, a SKU term that begins SKUs (partly created out of SKU order, one old product
    holding it mid-SKU, the first three inactive) pages in id order exactly as the plain filter finds it, whether its
    pages lie within the ids of its first SKUs or (the active filter drops some) past them."""
    monkeypatch.setattr(selectors, "FILTERED_COUNT_CAP", 4)
    monkeypatch.setattr(selectors, "PRIMARY_KEY_WALK_LIMIT", 0)
    for number in range(8):
        product_make(f"P-{number:02d}", name="Chair")
    product_make("OLD-KIT-00", name="Chair")
    for number in (1, 2, 3, 5, 9, 4, 7, 6, 8, 10, 11, 12):  # the first SKUs are inactive
        product_make(f"KIT-{number:02d}", name="Chair", active=number > 3)
    plain = Product.objects.filter(sku__icontains="kit").order_by("id")
    expected = list((plain if active is None else plain.filter(active=active)).values_list("sku", flat=True))
    bounds = answers_spied(monkeypatch, "_sku_prefix_bound")
    assert pages_shown(ProductFilters(sku="Kit", active=active), total="4+") == expected
    assert any(bound is not None for bound in bounds)


@pytest.mark.parametrize("walk_limit", [20_000, 0], ids=["primary key walk", "fetch and sort in range"])
def test_deep_pages_past_the_cap_with_a_search_backlog_are_the_plain_filters_pages(monkeypatch, walk_limit):
    """Every page of a name past the cap, some of its products still in the search backlog, is
    the plain filter's page in id order, walked or fetched and sorted within the page's bound."""
    from products.tests.factories import products_import_make

    monkeypatch.setattr(selectors, "FILTERED_COUNT_CAP", 6)
    monkeypatch.setattr(selectors, "PRIMARY_KEY_WALK_LIMIT", walk_limit)
    for number in range(30):
        product_make(f"S-{number:02d}", name="Oak Chair" if number % 3 else "Teak Stool")
    products_import_make(*[(f"B-{number:02d}", "Oak Shelf" if number % 2 else "Pine Shelf", "") for number in range(10)])
    for number in range(30, 40):
        product_make(f"S-{number:02d}", name="Oak Chair")
    expected = list(Product.objects.filter(name__icontains="oak").order_by("id").values_list("sku", flat=True))
    assert pages_shown(ProductFilters(name="OAK"), total="6+") == expected


def test_the_passes_through_the_search_indexes_plan_without_parallel_workers_or_jit(monkeypatch):
    """The capped passes and the fetch and sort of a page past the cap each begin with the SET
    LOCALs of INDEX_PASS_SETTINGS in the same statement (the pass through a name term's trigram
    index with sequential scans off too), and find the plain filter's pages."""
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(selectors, "FILTERED_COUNT_CAP", 4)
    monkeypatch.setattr(selectors, "PRIMARY_KEY_WALK_LIMIT", 0)
    for number in range(12):
        product_make(f"S-{number:02d}", name="Oak Chair" if number % 2 else "Teak Stool")  # 4 of the newest 8
    expected = list(Product.objects.filter(name__icontains="oak").order_by("id").values_list("sku", flat=True))
    with CaptureQueriesContext(connection) as queries:
        assert pages_shown(ProductFilters(name="Oak"), total="4+") == expected
    statements = [query["sql"] for query in queries.captured_queries]
    settings = "SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL jit = off"
    assert "; ".join(f"SET LOCAL {setting}" for setting in selectors.INDEX_PASS_SETTINGS) == settings
    fetched_and_sorted = [sql for sql in statements if '"product_id" + 0) ASC' in sql]
    capped = [sql for sql in statements if "SELECT coalesce(array_agg" in sql]
    assert fetched_and_sorted and any('"product_id" >' not in sql for sql in capped)
    assert all(sql.startswith(f"{settings}; SELECT ") for sql in fetched_and_sorted)
    for sql in capped:  # a walk of the newest ids keeps sequential scans
        newest = '"product_id" >' in sql
        assert sql.startswith(settings + ("" if newest else "; SET LOCAL enable_seqscan = off") + "; SELECT coalesce(")


def test_the_check_for_search_rows_past_a_pass_reads_only_the_rows_of_its_id_range():
    """Whether search rows of ids up to a bound lie past a table position is read through the
    primary key, row by row up to the bound, even where the rows lie out of id order (a BRIN
    bound then spans the table, and every row was rechecked)."""
    import json
    import re

    from django.test.utils import CaptureQueriesContext

    from products.models import ProductSearch

    for number in range(400):
        product_make(f"S-{number:03d}", name="Oak Chair")
    ids = sorted(ProductSearch.objects.values_list("product_id", flat=True))
    ProductSearch.objects.filter(product_id__gt=ids[200]).update(name="oak chair, moved")  # new versions further on
    with connection.cursor() as cursor:
        cursor.execute("SELECT max((ctid::text::point)[0]) FROM products_productsearch WHERE product_id <= %s", [ids[4]])
        past = f"({int(cursor.fetchone()[0]) + 1},1)"  # the table page after the one holding the range's last row
    with CaptureQueriesContext(connection) as queries:
        assert selectors._search_rows_past(past, up_to_id=ids[4]) is False
    [statement] = [query["sql"] for query in queries.captured_queries]
    settings, select = statement.rsplit("; ", 1)
    with connection.cursor() as cursor:
        cursor.execute(settings)
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {select}")
        plan = json.dumps(cursor.fetchone()[0])
    assert "products_productsearch_pkey" in plan
    assert '"Rows Removed by Filter": 5' in plan and not re.search(r'"Rows Removed by Index Recheck": [1-9]', plan)


@pytest.mark.parametrize("active", [None, False], ids=["SKU term alone", "with the inactive filter"])
def test_a_sku_term_reads_the_skus_prefix_and_tail_indexes_and_finds_the_plain_filters_matches(active):
    """A SKU term finds its candidates through the SKU's prefix btree and the trigram index of the
    SKU but its first character (no other row), and matches exactly where the plain filter does:
    at the start, in the middle or at the end, LIKE's wildcards taken literally."""
    from products.models import ProductSearch

    for number, sku in enumerate(["AB-10", "XAB-1", "X-AB", "A_B-1", "AXB-1", "ZA%B-2", "ZAQB-2", "BA-1", "ab"]):
        product_make(sku, name="Ab Chair", active=number % 2 == 0)
    rows = selectors.product_search_filter(filters=ProductFilters(sku="ab")).order_by().values_list("product_id")
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row for (row,) in cursor.fetchall())
    assert [index.name for index in ProductSearch._meta.indexes[3:5]] == ["productsearch_sku_prefix", "productsearch_sku_tail_trgm"]
    assert "productsearch_sku_prefix" in plan and "productsearch_sku_tail_trgm" in plan, plan
    for term in ("ab", "AB-1", "-1", "b", "a_b", "a%b", "_", "%"):
        plain = Product.objects.filter(sku__icontains=term).order_by("id")
        expected = list((plain if active is None else plain.filter(active=active)).values_list("sku", flat=True))
        assert skus(ProductFilters(sku=term, active=active)) == expected, term
        page = product_page(filters=ProductFilters(sku=term, active=active), number=1, per_page=25)
        assert [product.sku for product in page.products] == expected, term


@pytest.mark.parametrize("moved", [False, True], ids=["search rows in id order", "an old match's row moved to the end"])
def test_pages_past_the_cap_are_slices_of_the_found_ids_only_where_no_row_of_their_range_lies_further_on(
    monkeypatch, moved
):
    """A page past the cap is cut from the ids the capped pass read in table order when no search
    row of the page's id range lies on the last table page it read or further on; an old match's
    row moved past it (a staff edit) makes the page fetched again. Either way the pages are the
    plain filter's."""
    from products.models import ProductSearch

    monkeypatch.setattr(selectors, "FILTERED_COUNT_CAP", 200)
    monkeypatch.setattr(selectors, "PRIMARY_KEY_WALK_LIMIT", 0)
    monkeypatch.setattr(selectors, "CHECKED_ROW_COST_IN_ENTRIES", 0)  # check whatever the range
    monkeypatch.setattr(selectors, "BUNCH_PROBE_IDS", 10_000)  # no probe of the newest ids
    for number in range(600):  # several table pages of search rows, the pass stopping pages after the first
        product_make(f"S-{number:03d}", name="Oak Chair" if number % 2 else "Teak Stool")
    if moved:  # its page is full: the new row version goes to the table's end
        ProductSearch.objects.filter(product__sku="S-001").update(name="oak chair, " + "again " * 20)
    expected = list(Product.objects.filter(name__icontains="oak").order_by("id").values_list("sku", flat=True))
    checks = answers_spied(monkeypatch, "_search_rows_past")
    shown = []
    for number in range(1, 8):  # pages of 8 among the first of the 201 found ids
        page = product_page(filters=ProductFilters(name="Oak"), number=number, per_page=8)
        assert str(page.total) == "200+"
        shown += [product.sku for product in page.products]
    assert shown == expected[:56]
    assert len(checks) == 7 and all(checks) == moved  # a row in range lay past the pass, or none did
