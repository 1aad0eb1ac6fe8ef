"""Which scopes a platform's client may ask for: those granted to its Platform, not every scope
Tessera knows (django-oauth-toolkit's default would grant any client every scope)."""

from typing import Any

from oauth2_provider.scopes import SettingsScopes


class PlatformScopes(SettingsScopes):
    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        platform = getattr(application, "platform", None) if application is not None else None
        if platform is None:
            return []
        return sorted(platform.scope_set)

    def get_default_scopes(self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any) -> list[str]:
        """A token request naming no scope gets every scope the platform was granted."""
        return self.get_available_scopes(application, request)
