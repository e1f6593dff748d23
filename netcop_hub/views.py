"""Project-wide views: the CSRF failure answer (JSON for API calls, a page for forms)."""

from django.http import JsonResponse
from django.shortcuts import render

from .http import wants_json


def csrf_failure(request, reason=""):
    """CSRF stays on everywhere; explain the failure without echoing Django's internal reason."""
    message = "Your session's security token is missing or expired. Reload the page and try again."
    if wants_json(request):
        return JsonResponse({"error": message}, status=403)
    return render(request, "403_csrf.html", {"message": message}, status=403)
