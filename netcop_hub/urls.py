from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

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
    # Browsers and crawlers ask for /favicon.ico whatever the page's <link rel="icon"> says.
    path("favicon.ico", views.favicon),
]

handler403 = "netcop_hub.views.permission_denied"
