from typing import Any

from tessera.vouchers.management.base import VoucherCommand
from tessera.vouchers.selectors.stats import STATS_DIMENSIONS, code_stats


class Command(VoucherCommand):
    help = "Codes issued and redeemed, and the percentage, by product, tag and course."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--by", choices=list(STATS_DIMENSIONS), action="append")

    def handle(self, *args: Any, **opts: Any) -> None:
        for dimension in opts["by"] or list(STATS_DIMENSIONS):
            self.stdout.write(f"\nBy {dimension}")
            self.stdout.write(f"{dimension:<28} {'issued':>10} {'redeemed':>10} {'%':>7} {'uses':>10}")
            for row in code_stats(dimension):
                self.stdout.write(
                    f"{row.key:<28} {row.issued:>10,} {row.redeemed:>10,} {row.percent:>6.1f}% {row.uses:>10,}"
                )
