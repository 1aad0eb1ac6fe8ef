"""How long printing a batch's codes as cards takes, and how much memory it needs.

For each count, a fresh batch is made (untimed), then its cards are written to a PDF file as
`tessera print-cards` writes them (tessera.web.cards.batch_cards into tessera.core.cardpdf),
timed. Peak memory is the process's resident peak (getrusage's ru_maxrss): counts run smallest
first, so each row's peak is that count's; the growth is over the peak before the first.

    .venv/bin/python bench/bench_cards.py --db both [--counts 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import resource
import sys
from typing import TYPE_CHECKING

import benchlib

if TYPE_CHECKING:
    from tessera.vouchers.models import Batch

PG_DATABASE = "tessera_bench_cards"
BASE = "https://tessera.example"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--counts", default="1000,10000,100000", help="codes per batch, comma-separated")


def main() -> int:
    args = benchlib.parse_args(__doc__.splitlines()[0], add_arguments)
    if args.db == "both":
        return benchlib.run_each_database_in_a_child()
    benchlib.setup_django(args.db, pg_database=PG_DATABASE)
    try:
        return run(sorted(int(count) for count in args.counts.split(",")))
    finally:
        if args.db == "postgres":
            from django.db import connections

            connections.close_all()
            benchlib.drop_postgres_database(PG_DATABASE)


def run(counts: list[int]) -> int:
    from tessera.vouchers.services import BatchSpec, batch_create

    offer = benchlib.enrollment_offer(benchlib.running_session())
    benchlib.banner(f"bench_cards: printable cards on {benchlib.database_label()}")
    baseline = _peak_mb()
    rows = []
    for count in counts:
        batch = batch_create(offer=offer, spec=BatchSpec(count=count, country="DE", tag="bench"), actor="bench")
        pages, seconds, size = _print(batch)
        peak = _peak_mb()
        rows.append([f"{count:,}", f"{pages:,}", f"{seconds:.1f}", f"{count / seconds:,.0f}", f"{size:.1f}",
                     f"{peak:.0f}", f"{peak - baseline:.0f}"])  # fmt: skip
    print(f"resident peak before the first count: {baseline:.0f} MB")
    print(benchlib.table(["codes", "pages", "seconds", "codes/s", "PDF MB", "peak MB", "growth MB"], rows))
    return 0


def _print(batch: Batch) -> tuple[int, float, float]:
    from tessera.core.cardpdf import write_cards
    from tessera.web.cards import batch_cards

    target = benchlib.BENCH_VAR / "cards.pdf"
    with open(target, "wb") as output, benchlib.stopwatch() as took:
        pages = write_cards(batch_cards(batch, base=BASE), output)
    return pages, took[0], target.stat().st_size / 1e6


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


if __name__ == "__main__":
    sys.exit(main())
