"""The list over HTTP from two checkouts at once, their requests alternated one by one.

    flock /tmp/bench.lock .venv/bin/python bench/product_list_pair_benchmark.py --against /tmp/list-main
        [--runs 30] [--case QUERY ...]

On a shared machine the load moves between two runs of bench/product_list_benchmark.py; here
both checkouts are served at once, each by its own gunicorn as the Procfile starts it (3 workers,
DEBUG off, its own code on the same benchmark database, which must suit both), and every
timed request to one is followed by the same request to the other. Median / p95 ms per case
after the usual warm-up. The products must be loaded already (product_list_benchmark.py --keep).
"""

import argparse
import importlib.util
from contextlib import ExitStack
from pathlib import Path

import _django
import web_stack
from product_list_benchmark import cases


def other_web_stack(checkout: Path):
    """The other checkout's web_stack module: its gunicorn serves that checkout's code."""
    spec = importlib.util.spec_from_file_location("other_web_stack", checkout / "bench" / "web_stack.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, required=True, help="the other checkout (its .venv is used as is)")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--case", action="append", help="a query string such as '?name=oak'; default: every case")
    args = parser.parse_args()
    web_stack.web_environment()
    _django.setup()
    from products.models import Product

    queries = args.case or [query for _, query in cases(Product.objects.order_by().count())]
    session = web_stack.staff_session()
    with ExitStack() as servers:
        bases = {
            "other": servers.enter_context(other_web_stack(args.against.resolve()).gunicorn()),
            "this": servers.enter_context(web_stack.gunicorn()),
        }
        print(f"{args.runs} requests per case to each, alternated, after {web_stack.WARM_UP_REQUESTS}; median / p95 ms")
        print(f"{'case':<45} {'other':>17} {'this':>17}")
        for query in queries:
            timings = {name: [] for name in bases}
            for base in bases.values():
                for _ in range(web_stack.WARM_UP_REQUESTS):
                    web_stack.timed_get(session, f"{base}/products/{query}")
            for _ in range(args.runs):
                for name, base in bases.items():
                    timings[name].append(web_stack.timed_get(session, f"{base}/products/{query}")[0])
            print(f"{query or '(first page)':<45} " + " ".join(f"{web_stack.summary(timings[name])}" for name in bases), flush=True)


if __name__ == "__main__":
    main()
