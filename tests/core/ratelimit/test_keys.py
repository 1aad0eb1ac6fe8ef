"""The keys attempts are counted under (tessera.core.ratelimit.keys): client IP behind proxies,
users, log-ins and IPv6 networks."""

import pytest
from django.test import RequestFactory

from tessera.core.ratelimit.keys import attempt_keys, client_ip, ip_key


class TestClientIp:
    def request(self, forwarded: str | None = None, remote: str = "192.0.2.1"):
        headers = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
        return RequestFactory().get("/", REMOTE_ADDR=remote, **headers)

    def test_without_trusted_proxies_it_is_the_remote_address_whatever_the_header_says(self, settings):
        settings.TESSERA_TRUSTED_PROXIES = 0
        assert client_ip(self.request("203.0.113.9")) == "192.0.2.1"

    def test_behind_one_proxy_it_is_the_address_that_proxy_appended(self, settings):
        settings.TESSERA_TRUSTED_PROXIES = 1
        assert client_ip(self.request("198.51.100.66, 203.0.113.9")) == "203.0.113.9"

    def test_behind_two_proxies_it_is_the_second_address_from_the_right(self, settings):
        settings.TESSERA_TRUSTED_PROXIES = 2
        assert client_ip(self.request("1.2.3.4, 198.51.100.7,203.0.113.9")) == "198.51.100.7"

    def test_a_header_shorter_than_the_proxy_chain_gives_its_first_address(self, settings):
        settings.TESSERA_TRUSTED_PROXIES = 3
        assert client_ip(self.request("198.51.100.7, 203.0.113.9")) == "198.51.100.7"

    def test_without_the_header_it_is_the_remote_address(self, settings):
        settings.TESSERA_TRUSTED_PROXIES = 1
        assert client_ip(self.request()) == "192.0.2.1"

    @pytest.mark.parametrize(
        "forwarded", ["", ",", " , ", "not-an-ip", "999.1.1.1", "\x00", "x" * 10_000, "203.0.113.9, garbage", "[::1"]
    )
    def test_a_malformed_header_gives_the_remote_address(self, settings, forwarded):
        settings.TESSERA_TRUSTED_PROXIES = 1
        assert client_ip(self.request(forwarded)) == "192.0.2.1"

    @pytest.mark.parametrize(
        ("forwarded", "address"),
        [("203.0.113.9:4711", "203.0.113.9"), ("[2001:DB8::1]:443", "2001:db8::1"), ("2001:0db8::0001", "2001:db8::1")],
    )
    def test_ports_and_brackets_are_dropped_and_addresses_normalised(self, settings, forwarded, address):
        settings.TESSERA_TRUSTED_PROXIES = 1
        assert client_ip(self.request(forwarded)) == address

    def test_a_missing_remote_address_is_unknown(self, settings):
        settings.TESSERA_TRUSTED_PROXIES = 0
        assert client_ip(self.request(remote="")) is None


class TestKeys:
    def test_an_ipv4_address_is_its_own_key(self):
        assert ip_key("203.0.113.9") == "ip:203.0.113.9"

    def test_ipv6_addresses_share_the_key_of_their_64_network(self):
        assert ip_key("2001:db8:1:2::1") == ip_key("2001:db8:1:2:ffff::9") == "ip:2001:db8:1:2::/64"
        assert ip_key("2001:db8:1:3::1") != ip_key("2001:db8:1:2::1")

    def test_an_ipv4_mapped_ipv6_address_is_keyed_as_ipv4(self):
        assert ip_key("::ffff:203.0.113.9") == "ip:203.0.113.9"

    def test_a_signed_in_learner_is_limited_by_user_and_by_address(self, learner, settings):
        settings.TESSERA_TRUSTED_PROXIES = 0
        request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.9")
        request.user = learner
        assert attempt_keys(request.user, client_ip(request)) == [f"user:{learner.pk}", "ip:203.0.113.9"]

    def test_an_anonymous_client_is_limited_by_address(self, settings):
        from django.contrib.auth.models import AnonymousUser

        settings.TESSERA_TRUSTED_PROXIES = 0
        request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.9")
        request.user = AnonymousUser()
        assert attempt_keys(request.user, client_ip(request)) == ["ip:203.0.113.9"]


class TestAttemptKeys:
    """A redemption or check is counted by who and where, without a request: the services build
    the keys from the learner and the address their caller passes."""

    def test_a_signed_in_learner_is_counted_by_user_and_by_address(self, learner):
        assert attempt_keys(learner, "203.0.113.9") == [f"user:{learner.pk}", "ip:203.0.113.9"]

    def test_the_address_is_keyed_as_ip_key_keys_it(self, learner):
        assert attempt_keys(learner, "2001:db8:1:2::1")[-1] == "ip:2001:db8:1:2::/64"

    def test_callers_without_an_address_share_one_counter(self, learner, other_learner):
        assert attempt_keys(learner, None)[-1] == attempt_keys(other_learner, None)[-1] == "ip:unknown"

    def test_nobody_signed_in_is_counted_by_address_only(self):
        from django.contrib.auth.models import AnonymousUser

        assert attempt_keys(AnonymousUser(), "203.0.113.9") == attempt_keys(None, "203.0.113.9") == ["ip:203.0.113.9"]

    def test_a_platform_reporting_no_address_counts_its_learner_alone(self, learner):
        # Not "ip:unknown": that counter would make all of the platform's learners one bucket.
        assert attempt_keys(learner, None, unknown_address_shared=False) == [f"user:{learner.pk}"]

    def test_a_platform_reporting_an_address_counts_it_as_anyone_does(self, learner):
        assert attempt_keys(learner, "203.0.113.9", unknown_address_shared=False) == attempt_keys(
            learner, "203.0.113.9"
        )

    def test_with_nobody_signed_in_and_no_address_the_attempt_is_still_counted(self):
        assert attempt_keys(None, None, unknown_address_shared=False) == ["ip:unknown"]
