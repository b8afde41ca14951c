"""The import's parser on the import benchmark's file, without the database.

    flock /tmp/bench.lock .venv/bin/python bench/parser_benchmark.py [--runs 3] [--data FILE] [--profile]

In this process: the CPU time of reading and checking the rows (ProductCsv.batches), of
turning them into payloads (SkuRouter.payloads) and of pickling what the child sends. Then the
parser process itself (ParserProcess, as an import starts it): from its start to the header,
its user and system CPU time over the whole file, and its peak RSS. `--profile` prints
cProfile's top functions of one in-process pass instead.
"""

import argparse
import cProfile
import pickle
import pstats
import resource
import statistics
import time
from pathlib import Path

import _django  # noqa: F401  (puts the project on sys.path; no database needed)

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_DATA = BENCH_DIR / "data" / "products-spread-500000.csv"
BATCH_ROWS, FIRST_ROWS = 30_000, 5_000  # as imports.pipeline


def in_process(path: Path) -> dict[str, float]:
    """CPU seconds of each stage over the whole file."""
    from imports.parsing import ProductCsv
    from imports.payloads import SkuRouter

    seconds = dict.fromkeys(("read and check", "payloads", "pickle"), 0.0)
    with open(path, "rb") as binary:
        batches, router = ProductCsv(binary).batches(BATCH_ROWS, first=FIRST_ROWS), SkuRouter()
        while True:
            started = time.process_time()
            batch = next(batches, None)
            seconds["read and check"] += time.process_time() - started
            if batch is None:
                return seconds
            started = time.process_time()
            payloads = router.payloads(batch)
            seconds["payloads"] += time.process_time() - started
            started = time.process_time()
            pickle.dumps((batch, payloads), protocol=pickle.HIGHEST_PROTOCOL)
            seconds["pickle"] += time.process_time() - started


def child(path: Path) -> dict[str, float]:
    """The parser process over the file, as an import runs it."""
    from imports.parser_process import ParserProcess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(path, "rb") as binary, ParserProcess(binary, batch_rows=BATCH_ROWS, first_rows=FIRST_ROWS) as parser:
        parser.header()
        header = time.perf_counter() - started
        for _batch in parser.batches():
            pass
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "start to header": header,
        "user CPU": after.ru_utime - before.ru_utime,
        "system CPU": after.ru_stime - before.ru_stime,
        "wall": time.perf_counter() - started,
        "peak RSS MB": after.ru_maxrss / 1024,  # the largest child's so far: every run's is the same parser
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--runs", type=int, default=3, help="runs of each; the median is reported")
    parser.add_argument("--profile", action="store_true", help="cProfile one in-process pass instead")
    args = parser.parse_args()
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(in_process, args.data)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
        return
    print(f"{args.data.name}: {args.runs} runs, medians (CPU s unless said otherwise)")
    for name, measure in (("in this process", in_process), ("the parser process", child)):
        runs = [measure(args.data) for _ in range(args.runs)]
        figures = ", ".join(f"{key} {statistics.median(run[key] for run in runs):.2f}" for key in runs[0])
        print(f"{name}: {figures}")


if __name__ == "__main__":
    main()
