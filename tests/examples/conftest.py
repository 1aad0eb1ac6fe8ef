"""The examples play a course platform: they take platform A and its access tokens from
tests/platforms/conftest.py."""

from tests.platforms.conftest import as_platform, platform_a, token_for  # noqa: F401 - fixtures, found by pytest
