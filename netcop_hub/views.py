"""Project-wide views: the CSRF failure answer (JSON for API calls, a page for forms), the 403 page."""

from django.core.exceptions import PermissionDenied
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static

from .http import wants_json


class PermissionDeniedWithReason(PermissionDenied):
    """A refusal whose message was written for the person refused; the 403 page shows it.

    Any other PermissionDenied gets the generic explanation: its text may be internal.
    """

    def __init__(self, reason: str, *, back_url: str = "", back_label: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.back_url = back_url
        self.back_label = back_label


def permission_denied(request, exception=None):
    """handler403: the site's page (the admin's look under /admin/), with the reason when there is one."""
    context = {"reason": "", "back_url": "", "back_label": "", "title": "This is not allowed"}
    if isinstance(exception, PermissionDeniedWithReason):
        context.update(reason=exception.reason, back_url=exception.back_url, back_label=exception.back_label)
    in_admin = request.path.startswith("/admin/")
    template = "admin/403.html" if in_admin else "403.html"
    if in_admin:
        from django.contrib import admin

        context.update(admin.site.each_context(request))
    return render(request, template, context, status=403)


def csrf_failure(request, reason=""):
    """CSRF stays on everywhere; explain the failure without echoing Django's internal reason."""
    message = "Your session's security token is missing or expired. Reload the page and try again."
    if wants_json(request):
        return JsonResponse({"error": message, "code": "csrf_failed"}, status=403)
    return render(request, "403_csrf.html", {"message": message}, status=403)


def favicon(request):
    """/favicon.ico (asked for by browsers and crawlers whatever the page links) -> static/favicon.svg.

    Resolved per request, not at import: the manifest storage only knows the hashed name after
    collectstatic, and `manage.py check --deploy` imports the URLs before that.
    """
    return HttpResponsePermanentRedirect(static("favicon.svg"))
