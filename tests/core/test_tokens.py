"""Bearer tokens stored only as digests (tessera.core.tokens)."""

from tessera.core.tokens import token_digest


class TestTokenDigest:
    def test_is_the_tokens_sha256_in_hex(self):
        assert token_digest("tsr_abc") == "ddda0466e7476b75df100ad1e52788073cc280713a19adc4a78b41c13375f337"

    def test_never_contains_the_token(self):
        token = "tsr_" + "x" * 43
        assert token not in token_digest(token)
        assert len(token_digest(token)) == 64

    def test_two_tokens_have_two_digests(self):
        assert token_digest("tsr_one") != token_digest("tsr_two")
