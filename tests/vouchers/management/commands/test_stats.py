"""`tessera stats`: codes issued and redeemed by product, tag and course."""

import re

from tessera.vouchers.services import voucher_redeem
from tests.commands import run_command


class TestStats:
    def test_rows_show_issued_redeemed_and_percent_by_product(
        self, enrollment_offer, reactivation_offer, make_batch, learner, running_session
    ):
        batch = make_batch(enrollment_offer, count=3, tag="fair")
        make_batch(reactivation_offer, count=2, tag="mail")
        voucher_redeem(code=batch.codes.first().code, user=learner, session=running_session)
        out = run_command("stats", "--by", "product")
        assert re.search(r"^enrollment\s+3\s+1\s+33\.3%\s+1$", out, re.MULTILINE), out
        assert re.search(r"^reactivation\s+2\s+0\s+0\.0%\s+0$", out, re.MULTILINE), out
        assert "By tag" not in out

    def test_every_dimension_is_shown_by_default(self, enrollment_offer, make_batch):
        make_batch(enrollment_offer, count=2, tag="fair")
        out = run_command("stats")
        assert [line for line in out.splitlines() if line.startswith("By ")] == [
            "By product", "By tag", "By course",
        ]  # fmt: skip
        assert re.search(r"^fair\s+2\s+0\s+0\.0%", out, re.MULTILINE), out
        assert re.search(r"^python\s+2\s+0\s+0\.0%", out, re.MULTILINE), out
