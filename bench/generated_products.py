"""The benchmarks' one product vocabulary, and SQL that generates N realistic-looking products
from it (the list benchmark; bench/generate_products_csv.py writes CSV files from the same words).

Names combine an adjective, a material and a noun ("Rustic Teak Stool"), so "stool" matches about
one product in nineteen; one product in 200,000 carries the rare word "zebrawood" in its name and
one in 100,000 "quixotic" in its description. Descriptions are 16 words from a small common
vocabulary plus a lot number, which gives the full-text index a realistic number of distinct words.
"""

ADJECTIVES = (
    "Rustic Modern Classic Vintage Compact Deluxe Elegant Sturdy Slim Cozy Bold Minimal Royal "
    "Nordic Urban Coastal Handmade Premium Smart Foldable Portable Antique Bright"
).split()
MATERIALS = "Teak Oak Walnut Pine Bamboo Steel Brass Copper Glass Marble Leather Linen Wool Cotton Ceramic Stone Velvet".split()
NOUNS = "Stool Chair Table Lamp Shelf Desk Bench Cabinet Mirror Rug Vase Clock Sofa Bed Dresser Basket Tray Bowl Candle".split()
WORDS = (
    "durable finish crafted with care for everyday use in any room easy to clean and built to "
    "last sustainably sourced materials hand finished by skilled makers perfect gift ideal for "
    "small spaces matching pieces available natural grain soft touch warm tones water resistant "
    "coating assembly required tools included designed in europe made to order limited edition"
).split()


def _array(words: list[str]) -> str:
    return "ARRAY[" + ",".join(f"'{word}'" for word in words) + "]"


def generated_products_sql(count: int) -> str:
    """SELECT sku, name, description, price, active for `count` generated products."""
    description_words = " || ' ' || ".join(
        f"w[1 + (i * {prime} + {k}) % {len(WORDS)}]"
        for k, prime in enumerate((7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67))
    )
    return f"""
        SELECT 'SKU-' || lpad(i::text, 8, '0') AS sku,
               a[1 + i % {len(ADJECTIVES)}] || ' ' || m[1 + (i / {len(ADJECTIVES)}) % {len(MATERIALS)}]
                 || ' ' || n[1 + (i / {len(ADJECTIVES) * len(MATERIALS)}) % {len(NOUNS)}]
                 || CASE WHEN i % 200000 = 7 THEN ' Zebrawood' ELSE '' END AS name,
               {description_words} || ' lot ' || (i % 50000)
                 || CASE WHEN i % 100000 = 3 THEN ' quixotic' ELSE '' END AS description,
               round((i % 100000) / 100.0 + 1, 2) AS price,
               i % 10 <> 0 AS active
          FROM generate_series(1, {count}) AS i,
               (SELECT {_array(ADJECTIVES)} AS a, {_array(MATERIALS)} AS m,
                       {_array(NOUNS)} AS n, {_array(WORDS)} AS w) AS vocabulary
    """
