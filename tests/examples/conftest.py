"""The examples play a course platform: they take the platforms' fixtures (platform A, its
sessions, its access tokens) from tests/platforms/conftest.py."""

from tests.platforms.conftest import (  # noqa: F401 - fixtures, found by pytest under these names
    as_platform,
    make_platform_session,
    platform_a,
    platform_ended_session,
    platform_session,
    token_for,
)
