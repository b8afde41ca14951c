"""Write a realistic, deterministic product CSV: `name,sku,description`.

As real exports are: about 3% of the rows repeat an earlier SKU in another letter case, drawn
uniformly from all the rows before, so they are spread through the whole file and most land in a
later import batch than their first row; and about 4% of the SKUs are odd ones the importer
accepts: surrounding spaces, non-ASCII letters, punctuation (commas and quotes too), up to the
64-character limit. The same arguments always give the same bytes.

    python bench/generate_products_csv.py bench/data/products-spread-500000.csv --rows 500000
"""

import argparse
import csv
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generated_products import ADJECTIVES, MATERIALS, NOUNS, WORDS  # noqa: E402 - the one vocabulary

LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
# Letters whose lower case Python and PostgreSQL agree on, so that a repeat in another case is
# the same SKU to both (the importer copes when they disagree, but that is a test's subject).
ACCENTED = "ÄÖÜÉÈÇÑÅØŁŽЖДЯΩΔ"
PUNCTUATED = ("/", ".", "#", "+", "&", ",", "'", '"', ":", "_")
LONG_SKU = 64


def sku_for(index: int) -> str:
    """The index-th product's SKU, recomputable without remembering the earlier rows."""
    sku = f"{LETTERS[index % 24]}{LETTERS[index // 24 % 24]}-{index:08d}-{LETTERS[index * 7 % 24]}x"
    odd = index * 2654435761 % 100  # a scatter of the odd kinds through the file
    if odd == 0:
        return f"  {sku} "
    if odd == 1:
        return f"{ACCENTED[index % len(ACCENTED)]}{ACCENTED[index // 7 % len(ACCENTED)]}-{sku}-商品"
    if odd == 2:
        return sku.replace("-", PUNCTUATED[index % len(PUNCTUATED)])
    if odd == 3:
        return f"{sku}-{'LONG' * 16}"[:LONG_SKU]
    return sku


def other_case(sku: str, rng: random.Random) -> str:
    return rng.choice([sku.lower(), sku.swapcase(), f"{sku[:3].lower()}{sku[3:]}"])


def generate(out, rows: int, seed: int, variant: int = 0) -> None:
    """`variant` changes names and descriptions only: same SKUs, so every row is a real update."""
    rng = random.Random(seed)
    text_rng = random.Random(f"{seed}-{variant}")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["name", "sku", "description"])
    products = 0
    for _ in range(rows):
        if products and rng.random() < 0.03:
            sku = other_case(sku_for(rng.randrange(products)), rng)
        else:
            sku = sku_for(products)
            products += 1
        name = f"{text_rng.choice(ADJECTIVES)} {text_rng.choice(MATERIALS)} {text_rng.choice(NOUNS)}"
        words = text_rng.sample(WORDS, text_rng.randint(4, 12))
        # A comma, and now and then quotes, as real descriptions have: CSV quotes these fields.
        quoted = f'"{words[1]}"' if text_rng.random() < 0.1 else words[1]
        description = f"{words[0].capitalize()} {quoted}, {' '.join(words[2:])}."
        if variant:
            name = f"{name} v{variant}"
        writer.writerow([name, sku, description])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="output file, or - for standard output")
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--variant", type=int, default=0, help="other names and descriptions, same SKUs")
    args = parser.parse_args()
    if args.path == "-":
        generate(sys.stdout, args.rows, args.seed, args.variant)
        return
    Path(args.path).parent.mkdir(parents=True, exist_ok=True)
    with open(args.path, "w", encoding="utf-8", newline="") as out:
        generate(out, args.rows, args.seed, args.variant)


if __name__ == "__main__":
    main()
