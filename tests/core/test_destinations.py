"""Where webhooks may go: public addresses only, unless private ones are allowed; link-local,
multicast and the like never; a URL checked when it is set (and again before each attempt, as
the shops' and platforms' delivery tests see); the log keeps only a URL's origin."""

import socket
import time
from typing import Any

import pytest

from tessera.core.destinations import (
    CouldNotResolve,
    WebhookUrlForbidden,
    address_forbidden,
    allowed_addresses,
    resolve,
    url_origin,
    webhook_url_checked,
    webhook_url_destination_check,
)
from tessera.core.errors import InvalidInput

FORBIDDEN_HOSTS = [
    "127.0.0.1", "127.8.9.10", "10.0.0.8", "172.16.5.4", "192.168.1.1", "100.64.0.1", "169.254.169.254",
    "0.0.0.0",  # noqa: S104 - a destination refused, not an address bound
    "224.0.0.1", "240.0.0.1", "255.255.255.255", "[::1]", "[::]", "[fe80::1]", "[fc00::1]",
    "[ff02::1]", "[::ffff:127.0.0.1]", "[::ffff:169.254.169.254]", "[::ffff:10.0.0.1]", "localhost",
]  # fmt: skip
NOT_YET_RESOLVING = "https://hooks-not-yet.example/tessera"  # .example names resolve nowhere


def getaddrinfo_answering(*addresses: str) -> Any:
    """A resolver that finds these addresses for any name, as socket.getaddrinfo lists them."""

    def answer(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        family = {4: socket.AF_INET, 6: socket.AF_INET6}
        return [
            (family[6 if ":" in address else 4], socket.SOCK_STREAM, 6, "", (address, port)) for address in addresses
        ]

    return answer


def getaddrinfo_failing(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.mark.usefixtures("private_refused")
class TestForbiddenDestinations:
    @pytest.mark.parametrize("host", FORBIDDEN_HOSTS)
    def test_a_url_to_a_forbidden_address_is_refused_with_its_code_and_field(self, host: str) -> None:
        with pytest.raises(InvalidInput) as refused:
            webhook_url_checked(f"http://{host}:8080/hook")
        assert (refused.value.code, refused.value.field) == ("webhook_url_forbidden", "webhook_url")

    @pytest.mark.parametrize(
        "url", ["https://93.184.215.14/hook", "https://[2606:4700:4700::1111]/hook", NOT_YET_RESOLVING]
    )
    def test_a_public_address_or_a_name_that_does_not_resolve_yet_is_accepted(self, url: str) -> None:
        assert webhook_url_checked(url) == url

    def test_allowing_private_targets_lets_loopback_and_private_through_never_link_local(self, settings: Any) -> None:
        settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = True
        for host in ["127.0.0.1", "10.0.0.8", "[::1]", "[fc00::1]", "localhost"]:
            assert webhook_url_checked(f"http://{host}/hook") == f"http://{host}/hook"
        for host in ["169.254.169.254", "[fe80::1]", "[::ffff:169.254.169.254]", "224.0.0.1", "0.0.0.0"]:  # noqa: S104
            with pytest.raises(InvalidInput, match="public addresses only"):
                webhook_url_checked(f"http://{host}/hook")


class TestAnAddressJudged:
    @pytest.mark.parametrize(
        ("address", "allowing_private", "forbidden"),
        [("93.184.215.14", False, False), ("10.0.0.8", False, True), ("10.0.0.8", True, False),
         ("::1", False, True), ("::1", True, False), ("fe80::1", True, True), ("240.0.0.1", True, True),
         ("::ffff:10.0.0.1", True, False), ("::ffff:169.254.169.254", True, True)],
    )  # fmt: skip
    def test_by_its_kind_and_whether_private_addresses_are_allowed(
        self, settings: Any, address: str, allowing_private: bool, forbidden: bool
    ) -> None:
        settings.TESSERA_WEBHOOK_ALLOW_PRIVATE = allowing_private
        [parsed] = resolve(address, 80, timeout=1)
        assert address_forbidden(parsed) is forbidden


class TestResolving:
    def test_an_address_is_its_own_answer_without_a_lookup(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo_failing)
        assert [str(found) for found in resolve("[2606:4700:4700::1111]", 443, timeout=1)] == ["2606:4700:4700::1111"]
        assert [str(found) for found in resolve("93.184.215.14", 443, timeout=1)] == ["93.184.215.14"]

    def test_a_name_gives_every_address_it_has_without_a_link_locals_scope(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo_answering("93.184.215.14", "fe80::1%eth0"))
        assert [str(found) for found in resolve("hooks.example", 443, timeout=1)] == ["93.184.215.14", "fe80::1"]

    def test_a_name_without_an_address_cannot_be_resolved(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo_failing)
        with pytest.raises(CouldNotResolve, match=r"hooks\.example"):
            resolve("hooks.example", 443, timeout=1)

    def test_a_resolver_that_does_not_answer_in_time_is_not_waited_for(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def slow(*args: Any, **kwargs: Any) -> Any:
            time.sleep(0.5)
            return getaddrinfo_answering("93.184.215.14")(*args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", slow)
        started = time.monotonic()
        with pytest.raises(CouldNotResolve):
            resolve("hooks.example", 443, timeout=0.05)
        assert time.monotonic() - started < 0.4


@pytest.mark.usefixtures("private_refused")
class TestAllowedAddresses:
    def test_a_name_whose_addresses_are_all_public_gives_them_all(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo_answering("93.184.215.14", "2606:4700:4700::1111"))
        found = allowed_addresses("hooks.example", 443, timeout=1)
        assert [str(address) for address in found] == ["93.184.215.14", "2606:4700:4700::1111"]

    @pytest.mark.parametrize("order", [("93.184.215.14", "10.0.0.8"), ("10.0.0.8", "93.184.215.14")])
    def test_one_forbidden_address_among_public_ones_refuses_the_name_whichever_comes_first(
        self, monkeypatch: pytest.MonkeyPatch, order: tuple[str, str]
    ) -> None:
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo_answering(*order))
        with pytest.raises(InvalidInput, match="public addresses only"):
            allowed_addresses("hooks.example", 443, timeout=1)


@pytest.mark.usefixtures("private_refused")
class TestTheCheckWhenAUrlIsSet:
    def test_a_name_that_does_not_resolve_yet_is_let_through_until_it_resolves_to_a_forbidden_address(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo_failing)
        webhook_url_destination_check("https://hooks.example/tessera")  # no refusal
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo_answering("10.0.0.8"))
        with pytest.raises(WebhookUrlForbidden):
            webhook_url_destination_check("https://hooks.example/tessera")

    def test_the_port_looked_up_is_the_urls_or_its_schemes(self, monkeypatch: pytest.MonkeyPatch) -> None:
        ports: list[int] = []

        def recording(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
            ports.append(port)
            return getaddrinfo_answering("93.184.215.14")(host, port)

        monkeypatch.setattr(socket, "getaddrinfo", recording)
        for url in ["https://hooks.example/", "http://hooks.example/", "https://hooks.example:8443/"]:
            webhook_url_destination_check(url)
        assert ports == [443, 80, 8443]

    @pytest.mark.parametrize(
        "url",
        ["ftp://hooks.example/", "hooks.example/tessera", "https:///tessera", "https://hooks.example:0/",
         "https://hooks.example:port/", "https://[::1/", "https://hooks.example/ä", "https://hooks.example/a b",
         "https://hooks.example/\x00"],
    )  # fmt: skip
    def test_a_url_that_is_not_an_absolute_http_url_with_a_host_is_invalid_input(self, url: str) -> None:
        with pytest.raises(InvalidInput, match="must be an http or https URL with a host") as refused:
            webhook_url_checked(url)
        assert (refused.value.code, refused.value.field) == ("invalid_input", "webhook_url")


class TestTheOriginLogged:
    @pytest.mark.parametrize(
        ("url", "origin"),
        [("https://hooks.example/T0/B0/XXXX?key=k1", "https://hooks.example"),
         ("HTTP://user:pass@hooks.example:8080/hook", "http://hooks.example:8080"),
         ("https://[2606:4700:4700::1111]/hook", "https://[2606:4700:4700::1111]")],
    )  # fmt: skip
    def test_is_scheme_host_and_port_without_path_query_or_user_info(self, url: str, origin: str) -> None:
        assert url_origin(url) == origin
