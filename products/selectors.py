"""Reads: the filtered, paginated product list, fast at millions of rows."""

import json
import math
import re
import time
from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery, SearchVector, SearchVectorField
from django.db import connection
from django.db.models import BooleanField, F, Max, Min, Q, QuerySet, TextField, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce, Lower, StrIndex
from django.db.models.lookups import LessThanOrEqual

from products.models import (
    DESCRIPTION_SEARCH_CONFIG,
    SKU_UNIQUE_INDEX,
    DeleteAllJob,
    Product,
    ProductSearch,
    ProductSearchBacklog,
    ProductSearchCatchUp,
    product_search_key,
    product_search_sku_tail,
    sku_key,
)

# Counting every match of a broad filter costs as much as reading them all; past this many
# the list says "10,000+" and pages on with "Next".
FILTERED_COUNT_CAP = 10_000
# An exact count(*) of a million rows takes ~60 ms; above this size the unfiltered list shows
# an estimate from PostgreSQL's statistics as "about N" (product_catalogue_total).
EXACT_COUNT_BELOW = 100_000
# The active filter alone is labelled with PostgreSQL's estimate ("about N") where that is past
# this many (twice the cap, a margin for the estimate's error): statistics know a flag's share
# well, and the capped count would read the products table until the cap's matches. Its pages
# then walk the primary key.
ESTIMATED_ACTIVE_FILTER_ABOVE = 2 * FILTERED_COUNT_CAP
# Listing a broad filter in id order walks the primary key until the page is full, where
# that takes no more than this many ids (about what reading the trigram index's candidates
# of a common term costs); else the matches in range are fetched and sorted.
PRIMARY_KEY_WALK_LIMIT = 20_000
# Or where the walk costs less than reading the indexes' candidates in the whole catalogue:
# a walked row costs about as much as this many posting-list entries (docs/performance.md).
WALKED_ROW_COST_IN_ENTRIES = 4
# A row of the search rows' table read in order and checked for its id and position costs
# about as much as this many posting-list entries (docs/performance.md).
CHECKED_ROW_COST_IN_ENTRIES = 2
# A search that statistics say is common (more than 2 * FILTERED_COUNT_CAP rows) and that
# matches at least half of the newest BUNCH_PROBE_IDS ids and half of as many ids spread evenly
# over the newest 2 * FILTERED_COUNT_CAP (the SKU prefix of the latest import, say) is first
# looked for among those newest ids (a walk of the primary key): past the cap, that is its
# count, and the pass through the search indexes, which rechecks every older candidate of the
# term before these, is skipped. (The spread ids are read only when the newest match: most
# searches stop at that first, cheaper probe.) The newest ids alone cannot tell a block from a
# shorter run at the end (a name the newest few hundred share); spread ids alone can fall in
# step with a pattern of the data; and a walk that comes short is a page's time wasted.
BUNCH_PROBE_IDS = 100
# Page numbers stop here: far past the end of any catalogue, while the OFFSET stays a bigint.
# Where the total is exact a page past the end shows the last page; else it is empty.
PAGE_NUMBER_MAX = 1_000_000
# The list's orders. Id (import order, the default) and SKU walk an index on any list; sorting
# by the others means reading every match first, so they are offered only where the matches
# are counted exactly and are at most FILTERED_COUNT_CAP (the products table keeps no more
# indexes: each one slows the import).
SORT_KEYS = {
    "id": F("id"),
    "sku": sku_key(),
    "name": F("name"),
    "price": F("price"),
    "updated": F("updated_at"),
}
SORTS_ON_ANY_LIST = {"id", "sku"}
# PostgreSQL's statistics (the search rows', the SKU index's) change only when a table is
# analyzed, and they choose plans, never results: each process reads them (a few ms) at most
# this often.
SEARCH_STATISTICS_MAX_AGE = 60  # seconds
# A SKU or name term finds its candidates through the trigram index unless the description's
# words are held by less than this share of the term's rows: their candidates are rechecked.
TERMS_INDEXED_ABOVE = 0.1
# What rechecking one candidate row of the trigram index costs, in posting-list entries read:
# it weighs a part of a term that fewer rows hold against the trigrams it makes the index read.
RECHECK_COST_IN_ENTRIES = 100
# The list's passes through the search indexes (the capped pass, the fetch and sort of a page)
# plan without parallel workers and JIT. The leader builds the bitmap of the indexes' candidates
# alone in either plan, but a parallel plan builds it in shared memory, about twice as slowly,
# and leaves the workers only the shorter heap part; at millions of rows a fetch and sort passes
# jit_above_cost, and compiling costs more than it saves for one page (docs/performance.md).
INDEX_PASS_SETTINGS = ("max_parallel_workers_per_gather = 0", "jit = off")


@dataclass(frozen=True)
class ProductFilters:
    sku: str = ""
    name: str = ""
    description: str = ""
    active: bool | None = None

    @property
    def any(self) -> bool:
        return self.searches or self.active is not None

    @property
    def searches(self) -> bool:
        """Whether a filter reads the search rows (SKU, name, description)."""
        return bool(self.sku or self.name or self.description_words)

    @property
    def description_words(self) -> list[str]:
        return re.findall(r"\w+", self.description.lower())


@dataclass(frozen=True)
class Total:
    value: int
    kind: str  # "exact", "at_least" (a capped count) or "about" (the planner's estimate)

    def __str__(self) -> str:
        if self.kind == "at_least":
            return f"{self.value:,}+"
        if self.kind == "about":
            return f"about {self.value:,}"
        return f"{self.value:,}"

    @property
    def is_exact(self) -> bool:
        return self.kind == "exact"


@dataclass(frozen=True)
class ProductSort:
    """An order of the list: `field` (a SORT_KEYS name), ascending or not."""

    field: str = "id"
    descending: bool = False

    @classmethod
    def parse(cls, text: str) -> "ProductSort":
        """"name" or "-name"; anything else is the default order."""
        field = text.removeprefix("-")
        return cls(field=field, descending=text.startswith("-")) if field in SORT_KEYS else cls()

    def __str__(self) -> str:
        return f"-{self.field}" if self.descending else self.field

    def order_by(self) -> list:
        key = SORT_KEYS[self.field]
        if self.field in SORTS_ON_ANY_LIST:
            # Exactly the index's order read forwards or backwards: no NULLS clause, no tie-break.
            return [key.desc() if self.descending else key.asc()]
        # No price last either way; equal values in import order.
        return [key.desc(nulls_last=True) if self.descending else key.asc(nulls_last=True), "id"]


@dataclass(frozen=True)
class ProductPage:
    products: list[Product]
    number: int
    per_page: int
    total: Total
    has_next: bool
    sort: ProductSort = ProductSort()
    sort_refused: bool = False  # the order asked for needs a list of few, counted matches

    @property
    def sorts_on_any_field(self) -> bool:
        return _sorts_on_any_field(self.total)

    @property
    def start(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.products else 0

    @property
    def end(self) -> int:
        return self.start + len(self.products) - 1 if self.products else 0

    @property
    def num_pages(self) -> int | None:
        if self.total.kind == "at_least":
            return None
        return max(1, math.ceil(self.total.value / self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1


@dataclass(frozen=True)
class _Lookup:
    """How the search rows are looked up for one request's filters, decided once from the
    statistics (_statistics) and the description's stems (one to_tsvector)."""

    index_terms: dict[str, str]  # "sku"/"name": the part of the term the trigram index of both reads
    terms_indexed: bool  # the SKU and name terms find candidates through the trigram index
    stems: tuple[str, ...]  # the description's English stems
    words_drive: bool  # the description's words find the rows through the full-text index
    share: float | None  # of the search rows matching, were the conditions independent; None: unknown
    candidates: float | None  # share of the search rows the indexes read (the rarest indexed condition's)


def _lookup(filters: ProductFilters) -> _Lookup:
    terms = {column: getattr(filters, column).lower() for column in ("sku", "name") if getattr(filters, column)}
    statistics = _statistics().columns if filters.searches else {}
    stems = tuple(_description_stems(filters.description)) if filters.description_words else ()
    share_of = {column: _text_share(statistics[column]) for column in terms if column in statistics}
    share_of = {column: share for column, share in share_of.items() if share is not None}
    index_terms = {
        column: _index_term(term, runs=_term_runs(term), share=share_of.get(column)) for column, term in terms.items()
    }
    term_shares = [share_of[column](term) for column, term in terms.items() if column in share_of]
    words_share = _words_share(stems, statistics.get("description"))
    shares = [*term_shares, *([] if words_share is None else [words_share])]
    if shares and filters.active is not None:
        shares.append(_flag_share(statistics.get("active"), filters.active))
    # Unless a SKU or name term is held by fewer rows than the words' rarest stem: then the words
    # are checked on that term's candidates only, as the full-text index's bitmap of a common
    # word costs more than rechecking them (and ANDing it would not stop early).
    words_drive = words_share is None or not term_shares or words_share <= min(term_shares)
    # And the other way round: words far rarer than every term (a stem past the statistics'
    # common ones, say) are the only index read, and their few rows are rechecked for the
    # terms, rather than ANDed with a term's bitmap of a twentieth of the catalogue.
    terms_indexed = words_share is None or not term_shares or words_share >= TERMS_INDEXED_ABOVE * min(term_shares)
    indexed = [*(term_shares if terms_indexed else []), *([words_share] if words_drive and words_share is not None else [])]
    return _Lookup(
        index_terms=index_terms,
        stems=stems,
        words_drive=words_drive,
        terms_indexed=terms_indexed,
        share=math.prod(shares) if shares else None,
        candidates=min(indexed) if indexed else None,
    )


def product_search_filter(*, filters: ProductFilters, lookup: _Lookup | None = None) -> QuerySet[ProductSearch]:
    """Search rows matching the filters; SKU and name anywhere in the text, in any case."""
    lookup = lookup or _lookup(filters)
    rows = ProductSearch.objects.all()
    if filters.sku or filters.name:
        # Matching sku || ' ' || name lets the one trigram index narrow the rows; the strpos()
        # condition keeps a term from matching the other column. (An ILIKE there would make
        # PostgreSQL guess a hundredth of the real match count and pick slow plans.)
        rows = rows.alias(search_key=product_search_key())
    for field, index_term in lookup.index_terms.items():
        term = getattr(filters, field).lower()
        if field == "sku" and lookup.terms_indexed:
            # strpos() > 0 as two conditions whose indexes find the term's matches and no other
            # rows: the SKU begins with the term, or holds it further on.
            rows = rows.alias(sku_tail=product_search_sku_tail()).filter(
                Q(sku__startswith=term) | Q(sku_tail__contains=term)
            )
        else:
            rows = rows.alias(**{f"{field}_position": StrIndex(field, Value(term))}).filter(**{f"{field}_position__gt": 0})
        # The trigram index of both: a name term's candidates, and a SKU term's among the inactive
        # rows (their partial index), which the planner weighs against the SKU's own indexes.
        if lookup.terms_indexed and (field == "name" or filters.active is False):
            rows = rows.filter(search_key__contains=index_term)
    if filters.description_words:
        # Whole words, all of them, stemmed ("oak tables" finds "Oak table"). Exact words, not
        # prefixes: PostgreSQL knows how common a word is, not a prefix, and plans by that.
        if lookup.words_drive:
            rows = rows.filter(description=_description_query(filters))
        else:  # the same test, on an expression the full-text index does not serve
            rows = rows.alias(
                description_rechecked=Coalesce("description", Cast(Value(""), output_field=SearchVectorField()))
            ).filter(description_rechecked=_description_query(filters))
    if filters.active is not None:
        rows = rows.filter(active=filters.active)
    return rows


def _term_runs(term: str) -> list[str]:
    """A term's runs of letters and digits that the trigram index could read instead of it."""
    return [run for run in re.findall(r"[^\W_]+", term) if len(run) >= 3 and run != term]


def _index_term(term: str, *, runs: list[str], share) -> str:
    """The part of `term` that the trigram index looks up: the whole term, or one of its `runs`
    when that reads fewer posting lists for about as few candidate rows (`share` tells a
    text's share of the rows; None: no statistics, the whole term).

    Every row holds a prefix's trigrams ("sku", "ku-", "-00" of "SKU-00990000"); reading their
    posting lists costs more than rechecking the rows the prefix would have ruled out. The
    strpos() condition still checks the whole term on every candidate.
    """
    if not runs or share is None:
        return term

    def cost(part: str) -> float:
        trigrams = sum(share(part[i : i + 3]) for i in range(len(part) - 2))
        return trigrams + RECHECK_COST_IN_ENTRIES * share(part)

    return min([term, *runs], key=cost)


@dataclass(frozen=True)
class _Statistics:
    """PostgreSQL's statistics that choose the list's plans (never its results)."""

    # The search rows' sku, name, description and active (those analyzed): common values and
    # their shares, histogram bounds, common elements (a tsvector's stems) and their shares.
    columns: dict[str, tuple]
    sku_keys: list[str]  # histogram bounds of the products' SKU key (its unique index)


_statistics_read: tuple[float, _Statistics] | None = None  # (when, what) in this process


def _statistics() -> _Statistics:
    """The statistics, read in one statement and kept for SEARCH_STATISTICS_MAX_AGE seconds."""
    global _statistics_read
    now = time.monotonic()
    if _statistics_read is None or now - _statistics_read[0] > SEARCH_STATISTICS_MAX_AGE:
        search = ProductSearch._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT tablename, attname, most_common_vals::text::text[], most_common_freqs,"
                " histogram_bounds::text::text[], most_common_elems::text::text[], most_common_elem_freqs"
                " FROM pg_stats WHERE schemaname = current_schema()"
                " AND (tablename = %s AND attname IN ('sku', 'name', 'description', 'active') OR tablename = %s)",
                [search, SKU_UNIQUE_INDEX],
            )
            rows = cursor.fetchall()
        columns = {attname: tuple(values) for table, attname, *values in rows if table == search}
        sku_keys = next((values[2] or [] for table, _, *values in rows if table == SKU_UNIQUE_INDEX), [])
        _statistics_read = (now, _Statistics(columns=columns, sku_keys=sku_keys))
    return _statistics_read[1]


def search_statistics_forget() -> None:
    """Read the statistics afresh on the next filter (tests call this after ANALYZE)."""
    global _statistics_read
    _statistics_read = None


def _text_share(statistics: tuple):
    """A function telling the share of search rows whose column holds a text, judged from the
    column's `statistics` (its common values and histogram); None when they hold neither."""
    common, frequencies, bounds = statistics[0] or [], statistics[1] or [], statistics[2] or []
    if not (common or bounds):
        return None
    rest = (1 - sum(frequencies)) / len(bounds) if bounds else 0
    sample = [*zip(common, frequencies), *((value, rest) for value in bounds)]
    floor = min(weight for _, weight in sample) / 2

    def share(text: str) -> float:
        return max(floor, sum(weight for value, weight in sample if text in value))

    return share


def _flag_share(statistics: tuple | None, value: bool) -> float:
    """The share of search rows whose active flag is `value`, by its statistics (1 without)."""
    common, frequencies = (statistics[0] or [], statistics[1] or []) if statistics else ([], [])
    return dict(zip(common, frequencies)).get("t" if value else "f", 1.0 if not common else 0.0)


def _words_share(stems: tuple[str, ...], statistics: tuple | None) -> float | None:
    """The share of search rows holding the rarest of `stems`, by the description's statistics
    (0 for a stem rarer than every common one); None without stems or statistics."""
    if not stems or statistics is None or not statistics[3]:
        return None
    stem_shares = dict(zip(statistics[3], statistics[4]))
    return min(stem_shares.get(stem, 0.0) for stem in stems)


def product_search_backlog() -> list[tuple[int, int]]:
    """The id ranges (first, last) whose products may have no search row yet, joined where they
    touch: the filters read these products from the products table (products.search)."""
    ranges = []
    for first, last in ProductSearchBacklog.objects.order_by("first_id").values_list("first_id", "last_id"):
        if ranges and first <= ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], max(last, ranges[-1][1]))
        else:
            ranges.append((first, last))
    return ranges


def _in_backlog(backlog: list[tuple[int, int]], *, field: str) -> Q:
    condition = Q()
    for first, last in backlog:
        condition |= Q(**{f"{field}__gte": first, f"{field}__lte": last})
    return condition


def _unindexed_filter(
    *, filters: ProductFilters, backlog: list[tuple[int, int]], stems: tuple[str, ...]
) -> QuerySet[Product]:
    """The backlog's products that match the filters, read from the products table under the
    same conditions as their search rows would be (lowered SKU and name, English words, whose
    `stems` the caller has)."""
    products = Product.objects.filter(_in_backlog(backlog, field="id"))
    for field in ("sku", "name"):
        term = getattr(filters, field).lower()
        if term:
            products = products.alias(**{f"{field}_lowered": Lower(field)}).filter(**{f"{field}_lowered__contains": term})
    if filters.description_words:
        if not stems:
            return products.none()  # stop words only: the search rows match nothing either
        # to_tsvector() is costly (docs/performance.md); a LIKE that every match passes skips
        # most rows before it.
        for stem in stems:
            if len(stem) > 1:
                products = products.filter(_holding_a_word_of(stem))
        products = products.alias(
            description_words=SearchVector("description", config=DESCRIPTION_SEARCH_CONFIG)
        ).filter(description_words=_description_query(filters))
    if filters.active is not None:
        products = products.filter(active=filters.active)
    return products


# A word holds its English stem ("oak" in "oaks"), or the stem with its last letter rewritten
# ("happy" is "happi", "hoping" "hope", "possibility" "possibl", "skies" "sky"); "dying",
# "lying" and "tying" are "die", "lie" and "tie". Checked on the words of the machine's text
# files and the stemmer's exceptions (docs/performance.md).
_STEM_LAST_LETTER_IN_WORDS = {"e": "i", "i": "y", "l": "i", "y": "i"}


def _holding_a_word_of(stem: str) -> RawSQL:
    """A condition that every product with a word English stems to `stem` in its description
    meets (and some others): its lowered description holds one of the stem's forms."""
    forms = [stem]
    if stem[-1] in _STEM_LAST_LETTER_IN_WORDS:
        forms.append(stem[:-1] + _STEM_LAST_LETTER_IN_WORDS[stem[-1]])
    if stem.endswith("ie"):
        forms.append(stem[:-2] + "ying")
    patterns = ["%" + re.sub(r"([\\%_])", r"\\\1", form) + "%" for form in forms]  # LIKE's specials escaped
    # LIKE ANY lowers each description once for all the forms.
    column = f'"{Product._meta.db_table}"."description"'
    return RawSQL(f"lower({column}) LIKE ANY (%s)", [patterns], output_field=BooleanField())


def _description_stems(text: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT lexeme FROM unnest(to_tsvector(%s::regconfig, %s))", [DESCRIPTION_SEARCH_CONFIG, text])
        return [lexeme for (lexeme,) in cursor.fetchall()]


def _description_query(filters: ProductFilters) -> SearchQuery:
    return SearchQuery(filters.description, search_type="plain", config=DESCRIPTION_SEARCH_CONFIG)


def product_filter(*, filters: ProductFilters) -> QuerySet[Product]:
    """Products matching every filter. With a SKU, name or description filter the search rows
    answer, and the products table itself for the products in the search backlog; a product an
    import changed is found by its new values once search has caught up (products.search)."""
    return _matches(filters).products()


@dataclass(frozen=True)
class _Matches:
    """The filters' matches as queries, built once per request: the backlog, statistics and
    stems they need are read once, however many of the queries a page runs."""

    filters: ProductFilters
    backlog: list[tuple[int, int]]
    rows: QuerySet[ProductSearch] | None  # the matching search rows; None without a search filter
    unindexed: QuerySet[Product] | None  # the backlog's matching products
    lookup: _Lookup | None = None

    def ids(self, *conditions, **bounds) -> QuerySet:
        """The ids of the matching products as `match_id` (in either table's own primary key),
        within `bounds` (lookups on it, such as match_id__lte) and `conditions` (expressions of
        it). With a backlog, its products are read from the products table and added to the
        search rows' (UNION ALL): the answer then takes only order_by("match_id") and slicing."""
        if self.rows is None:
            ids = self.products().annotate(match_id=F("id")).filter(*conditions, **bounds)
            return ids.values_list("match_id", flat=True)
        return _indexed_or_backlog_ids(self.rows, self.unindexed, *conditions, backlog=self.backlog, **bounds)

    @property
    def trigram_terms(self) -> bool:
        """Whether a SKU or name term finds the search rows through its indexes (trigram, the SKU's prefix)."""
        return self.lookup is not None and self.lookup.terms_indexed and bool(self.lookup.index_terms)

    def products(self) -> QuerySet[Product]:
        if self.rows is not None:
            return Product.objects.filter(id__in=self.ids())
        if self.filters.active is not None:
            return Product.objects.filter(active=self.filters.active)
        return Product.objects.all()


def _matches(filters: ProductFilters) -> _Matches:
    if not filters.searches:
        return _Matches(filters=filters, backlog=[], rows=None, unindexed=None)
    lookup = _lookup(filters)
    backlog = product_search_backlog()
    return _Matches(
        filters=filters,
        backlog=backlog,
        rows=product_search_filter(filters=filters, lookup=lookup),
        unindexed=_unindexed_filter(filters=filters, backlog=backlog, stems=lookup.stems) if backlog else None,
        lookup=lookup,
    )


def product_filter_sku_or_name(*, term: str) -> QuerySet[Product]:
    """Products whose SKU or name holds `term`, in any case (the admin's search box): through the
    search rows' trigram index, and the products table for the search backlog's products.

    The matches are looked up here, once: up to FILTERED_COUNT_CAP of them, the answer lists
    their ids, so counting and paging them reads no backlog again.
    """
    term = term.lower()
    backlog = product_search_backlog()
    rows = ProductSearch.objects.alias(search_key=product_search_key()).filter(search_key__contains=term)
    unindexed = (
        Product.objects.filter(_in_backlog(backlog, field="id"))
        .alias(search_key=Lower(product_search_key()))
        .filter(search_key__contains=term)
    ) if backlog else None
    matches = _indexed_or_backlog_ids(rows, unindexed, backlog=backlog)
    found, _ = _ids_read(matches.order_by()[: FILTERED_COUNT_CAP + 1], sequential_scan=False)
    return Product.objects.filter(id__in=found if len(found) <= FILTERED_COUNT_CAP else matches)


def _indexed_or_backlog_ids(
    rows: QuerySet[ProductSearch], unindexed: QuerySet[Product] | None, *conditions, backlog, **bounds
) -> QuerySet:
    """The ids of the search `rows` outside the `backlog`, and of the `unindexed` products (the
    backlog's that match the same conditions), as `match_id` within `bounds` and `conditions`."""
    if backlog:
        rows = rows.exclude(_in_backlog(backlog, field="product_id"))
    matches = rows.annotate(match_id=F("product_id")).filter(*conditions, **bounds).values_list("match_id", flat=True)
    if not backlog:
        return matches
    unindexed = unindexed.annotate(match_id=F("id")).filter(*conditions, **bounds).values_list("match_id", flat=True)
    # Unordered parts (not by the models' default order): a LIMIT on the union then stops both early.
    return matches.order_by().union(unindexed.order_by(), all=True)


def _ids_read(ids: QuerySet, *, sequential_scan: bool = True) -> tuple[list[int], str | None]:
    """The `match_id`s a capped query answers, read as one array: one row, not one per id
    (a row per id made that many Python objects per request, and the garbage collector's full
    collections then slowed requests down); and, where the query selects each row's `position`
    (ctid), the last one read (None for none).

    `sequential_scan=False` for a SKU or name term's index lookup: PostgreSQL underrates
    rechecking a trigram candidate and takes a sequential scan when it guesses the cap's
    matches lie in the first pages it reads, which is slower than the trigram index at 5M
    (docs/performance.md). A common word's full-text lookup keeps it: it does stop early there.
    """
    sql, params = ids.query.sql_with_params()
    last = "max(position)::text" if "position" in ids.query.annotations else "NULL"
    rows = _rows_planned_with(
        f"SELECT coalesce(array_agg(match_id), '{{}}'), {last} FROM ({sql}) AS ids", params, _pass_settings(sequential_scan)
    )
    return rows[0]


def _pass_settings(sequential_scan: bool) -> list[str]:
    return [*INDEX_PASS_SETTINGS, *([] if sequential_scan else ["enable_seqscan = off"])]


def _positioned_ids(rows: QuerySet[ProductSearch]) -> QuerySet:
    """The product ids of the search `rows` as `match_id`, with each row's table position (ctid)."""
    positioned = rows.annotate(match_id=F("product_id"), position=RawSQL("ctid", [], output_field=TextField()))
    return positioned.values_list("match_id", "position")


def _search_rows_past(position: str, *, up_to_id: int) -> bool:
    """Whether a search row of a product id up to `up_to_id` lies on the table page of `position`
    (a ctid, "(page,item)") or after it: the rows in that id range, read through the primary
    key, which stops at the first such row; not the id's BRIN index, whose page ranges span
    most of the table once rows are out of id order (and then every row would be rechecked).
    The page itself counts: a scan that stopped in it may have read a row's newer version (an
    update's, further on in the page) before rows it never reached."""
    page = int(position.strip("()").split(",")[0])
    sql = (
        f"SELECT EXISTS (SELECT FROM {ProductSearch._meta.db_table}"
        " WHERE product_id <= %s AND ctid >= %s::tid)"
    )
    settings = [*_pass_settings(sequential_scan=False), "enable_tidscan = off"]
    return _rows_planned_with(sql, [up_to_id, f"({page},0)"], settings)[0][0]


def _rows_planned_with(sql: str, params, settings: list[str]) -> list[tuple]:
    """The rows of `sql`, planned with these settings ("name = value"). The SET LOCALs go in the
    same message: PostgreSQL runs its statements as one transaction, which ends with it (no extra
    round trips for BEGIN and COMMIT; in a transaction already, they last until its end)."""
    with connection.cursor() as cursor:
        cursor.execute("; ".join([*(f"SET LOCAL {setting}" for setting in settings), sql]), params)
        while cursor.nextset():  # past the SETs' results, to the statement's
            pass
        return cursor.fetchall()


def _sorted_ids(
    matches: QuerySet, *, backlog: list[tuple[int, int]], offset: int, wanted: int, descending: bool = False
) -> list[int]:
    """`wanted` of `matches` from `offset` in id order, fetched and sorted rather than found by
    walking the primary key: `+ 0` hides that order from PostgreSQL. (A union with the backlog's
    products can only be ordered by its column; PostgreSQL then merges or sorts as it estimates
    best.) Planned with INDEX_PASS_SETTINGS."""
    if backlog:
        ordered = matches.order_by("-match_id" if descending else "match_id")
    else:
        key = F("match_id") + 0
        ordered = matches.order_by(key.desc() if descending else key.asc())
    sql, params = ordered[offset : offset + wanted].query.sql_with_params()
    return [match_id for (match_id,) in _rows_planned_with(sql, params, list(INDEX_PASS_SETTINGS))]


_SEARCH_BEHIND_SQL = (
    f'SELECT EXISTS (SELECT FROM "{ProductSearchCatchUp._meta.db_table}")'
    f' OR EXISTS (SELECT FROM "{ProductSearchBacklog._meta.db_table}")'
)


def product_search_is_behind() -> bool:
    """Whether search has imported products to catch up with: a catch-up was asked for and has
    not finished, or the backlog holds products. Every products page and the notice's poll ask:
    one statement, at most a row read from each table, and written once rather than built by
    the ORM per request (its union took longer to build than to run)."""
    with connection.cursor() as cursor:
        cursor.execute(_SEARCH_BEHIND_SQL)
        return cursor.fetchone()[0]


def product_catalogue_total() -> Total:
    """How many products there are: exact for small catalogues, an estimate for big ones.

    The estimate is PostgreSQL's rows per page at its last ANALYZE times the table's pages now,
    as its planner scales it, so it follows an import that grows the table before statistics
    are refreshed. Where the statistics say small, a count capped at EXACT_COUNT_BELOW decides:
    stale statistics never make the list count millions of rows.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples, relpages, pg_relation_size(oid) / current_setting('block_size')::int"
            " FROM pg_class WHERE oid = %s::regclass",
            [Product._meta.db_table],
        )
        counted_rows, counted_pages, pages = cursor.fetchone()
    estimate = round(counted_rows / counted_pages * pages) if counted_rows > 0 and counted_pages > 0 else 0
    if estimate >= EXACT_COUNT_BELOW:
        return Total(value=estimate, kind="about")
    counted = Product.objects.order_by()[: EXACT_COUNT_BELOW + 1].count()
    if counted <= EXACT_COUNT_BELOW:
        return Total(value=counted, kind="exact")
    return Total(value=EXACT_COUNT_BELOW, kind="at_least")


def _id_span() -> dict:
    return Product.objects.aggregate(first=Min("id"), last=Max("id"))


def _found_ids(*, matches: _Matches) -> tuple[list[int], dict | None, str | None]:
    """Up to FILTERED_COUNT_CAP + 1 matching ids, sorted: all the matches when they are no more
    than the cap (the exact count, and every page sorted from them); the span of ids, read for a
    search; and where the pass read the search rows up to in table order, if it did (else None)."""
    span = _id_span() if matches.lookup else None
    found = _found_among_the_newest(matches=matches, span=span) if span else None
    if found:
        return found, span, None
    # Else one pass through the search indexes, unordered so the LIMIT can stop it. Through a
    # SKU or name term's indexes, that is a bitmap heap scan, which reads its candidates page by
    # page in table order: every match on the pages before the last one it read is found. (A
    # walk of the primary key instead would find the smallest ids, as good for a page.)
    in_table_order = matches.trigram_terms and not matches.backlog
    ids = _positioned_ids(matches.rows) if in_table_order else matches.ids()
    found, read_up_to = _ids_read(ids.order_by()[: FILTERED_COUNT_CAP + 1], sequential_scan=not matches.trigram_terms)
    return sorted(found), span, read_up_to


def _found_among_the_newest(*, matches: _Matches, span: dict) -> list[int] | None:
    """More than FILTERED_COUNT_CAP matching ids, sorted, from the newest 2 * FILTERED_COUNT_CAP
    ids, when the search is common and most of the probed newest ids match (else None)."""
    ids = span["last"] - span["first"] + 1 if span["last"] is not None else 0
    share = matches.lookup.share
    if not ids or (share is not None and share * ids <= 2 * FILTERED_COUNT_CAP):
        return None
    probe = matches.ids(match_id__gt=span["last"] - BUNCH_PROBE_IDS).order_by()[:BUNCH_PROBE_IDS]
    if 2 * len(probe) < min(BUNCH_PROBE_IDS, ids):
        return None
    window = 2 * FILTERED_COUNT_CAP
    step = max(1, window // BUNCH_PROBE_IDS)
    spread = [span["last"] - number * step for number in range(BUNCH_PROBE_IDS)]
    spread = [probed for probed in spread if probed >= span["first"]]
    if 2 * len(matches.ids(match_id__in=spread).order_by()) < len(spread):
        return None
    newest = matches.ids(match_id__gt=span["last"] - window).order_by()
    found = sorted(_ids_read(newest[: FILTERED_COUNT_CAP + 1])[0])
    return found if len(found) > FILTERED_COUNT_CAP else None


def _page_ids_past_the_cap(
    *, matches: _Matches, found_ids: list[int], span: dict | None, read_up_to: str | None, offset: int, wanted: int
):
    """A page of a filter with more matches than the cap, of which `found_ids` are some.

    The page is a slice of the found ids where they hold every match up to its last id: they
    were read in table order up to the page of `read_up_to`, and no search row of an id in that
    range lies there or further on (the usual case: search rows are written in id order). That
    check reads the rows in range, and is made where that costs less than reading the indexes'
    candidates again.

    The page's rows all lie at or below the found ids' (offset + wanted)-th smallest. Walking
    the primary key finds them fastest when matches are common from the first product on, so
    it is tried when matches as common as the statistics say (at least as the found ones, were
    they spread over all ids) fill the page within PRIMARY_KEY_WALK_LIMIT ids, or sooner than
    the indexes' candidates are read, and cut where they would have filled it twice over.
    Else, or when the walk comes short (the matches sit in a block, a SKU prefix of the latest
    import, say), the matches in range are fetched and sorted.
    """
    bound = found_ids[offset + wanted - 1]
    span = span or _id_span()
    span_ids = span["last"] - span["first"] + 1
    # The fetch and sort reads the indexes' candidates of the whole catalogue first.
    candidates = (matches.lookup.candidates or 0) * span_ids if matches.lookup else 0
    checked = (bound - span["first"] + 1) * CHECKED_ROW_COST_IN_ENTRIES <= candidates
    if read_up_to is not None and checked and not _search_rows_past(read_up_to, up_to_id=bound):
        return found_ids[offset : offset + wanted]
    found_share = len(found_ids) / span_ids
    statistics_share = matches.lookup.share if matches.lookup and matches.lookup.share else 0
    share = max(statistics_share, found_share)
    walk = math.ceil((offset + wanted) / share)
    if walk <= PRIMARY_KEY_WALK_LIMIT or walk * WALKED_ROW_COST_IN_ENTRIES <= candidates:
        walked = matches.ids(match_id__lte=min(bound, span["first"] + 2 * walk))
        ids = list(walked.order_by("match_id")[offset : offset + wanted])
        if len(ids) == wanted:
            return ids
    return _sorted_page_ids(matches=matches, bound=bound, offset=offset, wanted=wanted)


def _sorted_page_ids(
    *, matches: _Matches, bound: int, offset: int, wanted: int, after: int | None = None
) -> list[int]:
    """The page of the matches after id `after` and at or below id `bound`, fetched and sorted.

    The bound is on `id + 0`, which the search rows' id index (productsearch_id_brin) serves and
    the primary key does not: the trigram index's candidates are then rechecked only in range,
    where a walk of the primary key would read every row in range. A tighter bound costs less,
    so a SKU term that begins SKUs tries its own first (_sku_prefix_bound), kept when the page
    lies within it.
    """
    above = {} if after is None else {"match_id__gt": after}

    def up_to(limit: int) -> list[int]:
        in_range = matches.ids(LessThanOrEqual(F("match_id") + 0, limit), **above)
        return _sorted_ids(in_range, backlog=matches.backlog, offset=offset, wanted=wanted)

    tighter = _sku_prefix_bound(filters=matches.filters, count=offset + wanted, after=after)
    if tighter is not None and tighter < bound:
        ids = up_to(tighter)
        if len(ids) == wanted:
            return ids
    return up_to(bound)


def _sku_prefix_bound(*, filters: ProductFilters, count: int, after: int | None = None) -> int | None:
    """The largest id of the first `count` products after id `after`, in SKU order, whose SKU
    begins with the SKU term, read from the SKU's unique index; None without a SKU term, with
    another search filter, or with fewer such products. As many matches lie at or below it
    wherever the search rows agree with the products (else the caller finds fewer)."""
    if not filters.sku or filters.name or filters.description_words:
        return None
    key = sku_key()
    products = Product.objects.alias(key=key).filter(key__startswith=filters.sku.lower())
    if after is not None:
        products = products.filter(id__gt=after)
    ids = list(products.order_by(key).values_list("id", flat=True)[:count])
    return max(ids) if len(ids) == count else None


def product_page(
    *, filters: ProductFilters, number: int, per_page: int, sort: ProductSort = ProductSort(), total: Total | None = None
) -> ProductPage:
    """One page of the filtered list in `sort` order; a page past the end shows the last page
    (where the total is exact).

    `total`: the catalogue's, when the caller has it already (the list is unfiltered).
    """
    found_ids, span, read_up_to = [], None, None
    matches = _matches(filters)
    if not filters.any:
        total = total or product_catalogue_total()
    else:
        total = _active_filter_estimate(matches=matches)
    if total is None:
        found_ids, span, read_up_to = _found_ids(matches=matches)
        exact = len(found_ids) <= FILTERED_COUNT_CAP
        total = Total(value=len(found_ids), kind="exact") if exact else Total(value=FILTERED_COUNT_CAP, kind="at_least")
    number = min(number, PAGE_NUMBER_MAX)
    if total.is_exact:
        number = min(number, max(1, math.ceil(total.value / per_page)))
    offset = (number - 1) * per_page
    wanted = per_page + 1  # one more tells whether a next page exists
    sort_refused = sort.field not in SORTS_ON_ANY_LIST and not _sorts_on_any_field(total)
    if sort_refused:
        sort = ProductSort()
    rows = list(
        _page_rows(
            matches=matches, found_ids=found_ids, span=span, read_up_to=read_up_to, total=total, sort=sort,
            offset=offset, wanted=wanted,
        )
    )
    return ProductPage(
        products=rows[:per_page], number=number, per_page=per_page, total=total, has_next=len(rows) > per_page,
        sort=sort, sort_refused=sort_refused,
    )


def _active_filter_estimate(*, matches: _Matches) -> Total | None:
    """The planner's estimate of the active filter's matches, when it is the only filter and
    the estimate is past ESTIMATED_ACTIVE_FILTER_ABOVE."""
    if matches.filters.searches or matches.filters.active is None:
        return None
    # Unordered: under an ordered parallel plan (Gather Merge) the top node counts a share of the rows.
    sql, params = matches.products().order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    estimate = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"]
    return Total(value=estimate, kind="about") if estimate > ESTIMATED_ACTIVE_FILTER_ABOVE else None


def _sorts_on_any_field(total: Total) -> bool:
    return total.is_exact and total.value <= FILTERED_COUNT_CAP


def _page_rows(
    *, matches: _Matches, found_ids: list[int], span: dict | None, read_up_to: str | None, total: Total,
    sort: ProductSort, offset: int, wanted: int,
):
    exact_filter = total.is_exact and matches.filters.any
    if sort.field == "sku" and not matches.filters.any and not total.is_exact:
        return _page_in_sku_order(descending=sort.descending, rows=total.value, offset=offset, wanted=wanted)
    if sort != ProductSort():
        # At most FILTERED_COUNT_CAP rows to sort, or the SKU's unique index to walk.
        products = Product.objects.filter(id__in=found_ids) if exact_filter else matches.products()
        return products.order_by(*sort.order_by())[offset : offset + wanted]
    if exact_filter:
        page_ids = found_ids[offset : offset + wanted]
    elif offset + wanted <= len(found_ids):
        page_ids = _page_ids_past_the_cap(
            matches=matches, found_ids=found_ids, span=span, read_up_to=read_up_to, offset=offset, wanted=wanted
        )
    else:
        # Skipping rows costs less when only ids are skipped (an index-only scan for the whole
        # catalogue) and the page's rows are read afterwards.
        page_ids = matches.ids().order_by("match_id")[offset : offset + wanted]
    return Product.objects.filter(id__in=page_ids).order_by("id")


def _page_in_sku_order(*, descending: bool, rows: int, offset: int, wanted: int):
    """The whole catalogue's page in SKU order (of about `rows` products, an estimate: an exact
    total has counted the catalogue once already).

    Skipping `offset` entries of the SKU's unique index computes each one's key (lower()) as
    well; counting them reads the same entries and rows without, in about half the time. So a
    deep page starts at a key of the index's histogram (statistics) one bucket before the page,
    and skips only the difference to the exact count of the keys before it.
    """
    key = sku_key()
    products = Product.objects.alias(key=key).order_by(key.desc() if descending else key.asc())
    start = _sku_key_before(offset=offset, rows=rows, descending=descending)
    if start is not None:
        before = Product.objects.alias(key=key).filter(**{"key__gt" if descending else "key__lt": start}).count()
        if before <= offset:  # else statistics older than the catalogue put the key past the page
            skip = offset - before
            return products.filter(**{"key__lte" if descending else "key__gte": start})[skip : skip + wanted]
    return products[offset : offset + wanted]


def _sku_key_before(*, offset: int, rows: int, descending: bool) -> str | None:
    """A SKU key of the statistics' histogram (equal shares of the catalogue between its bounds),
    the last that lies half a bucket or more before the `offset`-th key in that order, if any."""
    bounds = _statistics().sku_keys
    if len(bounds) < 3 or rows <= 0:
        return None
    buckets = len(bounds) - 1
    index = math.floor(offset / rows * buckets - 0.5)
    if index < 1:
        return None
    return bounds[min(index, buckets)] if not descending else bounds[max(buckets - index, 0)]


def product_sku_taken(*, sku: str, exclude_pk: int | None = None) -> str | None:
    """The existing SKU that `sku` would duplicate (SKUs ignore letter case), if there is one."""
    others = Product.objects.alias(key=sku_key()).filter(key=sku_key(Value(sku.strip())))
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    return others.values_list("sku", flat=True).first()


def delete_all_job_pending() -> DeleteAllJob | None:
    return DeleteAllJob.objects.filter(status=DeleteAllJob.Status.PENDING).first()


@dataclass(frozen=True)
class ProductKeysetPage:
    products: list[Product]
    has_more: bool  # beyond the page, in the direction it was read


def product_keyset_page(
    *, filters: ProductFilters, per_page: int, after: int | None = None, before: int | None = None
) -> ProductKeysetPage:
    """Up to `per_page` products in id order just after id `after` (or just before id `before`),
    for cursor paging: no row before the cursor is read or counted, however deep the page.

    The same strategy as product_page(): up to the cap, the matches come from one unordered
    pass through the search indexes; past it the page lies between the cursor and the found
    ids' (per_page + 1)-th, which the primary key walk finds, within PRIMARY_KEY_WALK_LIMIT ids,
    before the matches in that range are fetched and sorted instead.
    """
    backward = before is not None
    wanted = per_page + 1
    found = _matches(filters)
    bounds = {}
    if after is not None:
        bounds["match_id__gt"] = after
    if backward:
        bounds["match_id__lt"] = before
    matches = found.ids(**bounds)
    order = "-match_id" if backward else "match_id"
    capped = matches.order_by()[: FILTERED_COUNT_CAP + 1]
    ids = sorted(_ids_read(capped, sequential_scan=not found.trigram_terms)[0], reverse=backward) if filters.any else []
    if not filters.any or FILTERED_COUNT_CAP < len(ids) < wanted:
        ids = list(matches.order_by(order)[:wanted])
    elif len(ids) > FILTERED_COUNT_CAP:
        bound = ids[wanted - 1]
        limit = "match_id__gte" if backward else "match_id__lte"
        start = before if backward else after
        if start is None:
            start = Product.objects.aggregate(first=Min("id"))["first"]
        walk_end = max(bound, start - PRIMARY_KEY_WALK_LIMIT) if backward else min(bound, start + PRIMARY_KEY_WALK_LIMIT)
        walk = found.ids(**bounds, **{limit: walk_end})
        ids = list(walk.order_by(order)[:wanted])
        if len(ids) < wanted and backward:
            in_range = found.ids(**bounds, **{limit: bound})
            ids = _sorted_ids(in_range, backlog=found.backlog, offset=0, wanted=wanted, descending=True)
        elif len(ids) < wanted:
            ids = _sorted_page_ids(matches=found, bound=bound, offset=0, wanted=wanted, after=after)
    return ProductKeysetPage(
        products=list(Product.objects.filter(id__in=ids[:per_page]).order_by("id")), has_more=len(ids) > per_page
    )
