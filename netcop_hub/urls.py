from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import TemplateView

from api import views as api_views
from api.v1 import api as api_v1
from api.v1 import not_found as api_not_found

from . import views

admin.site.site_header = "NetCop Wallet operations"
admin.site.site_title = "NetCop Wallet admin"

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("accounts/", include("authentication.urls")),
    path("wallet/", include("wallet.urls")),
    path("agents/", include("agents.urls")),
    path("documents/", include("documents.urls")),
    path("admin/", admin.site.urls),
    # --- issue 21: the API (key auth only), its docs, and the key and webhook pages.
    path("accounts/api-keys/", include("api.urls")),
    path("accounts/webhooks/", include("api.webhook_urls")),
    path("api/v1/docs/", api_views.docs, name="api_docs"),
    path("api/v1/", api_v1.urls),
    re_path(r"^api/(?P<rest>.*)$", api_not_found),
    # Browsers and crawlers ask for /favicon.ico whatever the page's <link rel="icon"> says.
    path("favicon.ico", views.favicon),
]

handler403 = "netcop_hub.views.permission_denied"
