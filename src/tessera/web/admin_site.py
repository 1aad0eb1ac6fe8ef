"""Django's admin site, its log-in under the failed log-in limits (TESSERA_LOGIN_ATTEMPTS)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from tessera.core.ratelimit.limiter import RateLimited
from tessera.web.forms import AdminLoginForm
from tessera.web.responses import locked_out


class AdminSite(admin.AdminSite):
    login_form = AdminLoginForm

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        try:
            return super().login(request, extra_context)
        except RateLimited as limited:
            return locked_out(request, limited)
