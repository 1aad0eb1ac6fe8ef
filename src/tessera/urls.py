from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.generic import RedirectView
from oauth2_provider.views import TokenView

from tessera.api.v1 import api as platform_api
from tessera.shop.api import api as shop_bridge

# A database error that escapes a middleware still answers 503, not 500 (tessera.core.unavailable).
handler500 = "tessera.core.unavailable.server_error"


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("", RedirectView.as_view(url="/courses", permanent=False)),
    path("healthz", healthz),
    path("admin/", admin.site.urls),
    path("staff/", include("tessera.web.staff.urls")),
    path("", include("tessera.web.urls")),
    # The platform API and the shop bridge, each with its own OpenAPI document and Swagger UI
    # (/api/v1/docs, /bridges/shop/docs); the one document there was, /openapi.json and /docs,
    # is now the platform API's.
    path("docs", RedirectView.as_view(url="/api/v1/docs", permanent=True)),
    path("openapi.json", RedirectView.as_view(url="/api/v1/openapi.json", permanent=True)),
    # Course platforms' servers get their access tokens here (client credentials).
    path("oauth/token", TokenView.as_view(), name="oauth-token"),
    path("api/v1/", platform_api.urls),
    path("bridges/", shop_bridge.urls),
]
