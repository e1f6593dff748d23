"""No NUL character in a URL: such a request answers 404 before any view sees it.

PostgreSQL refuses NUL in text, so a lookup such as /admin/wallet/stripeevent/%00/change/ (or an admin
search for "%00") raised a DataError and answered 500. No URL of ours contains NUL, and no search or
filter value needs one: refusing it here covers every ModelAdmin (and every other view) at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse

NUL = "\x00"

# Path prefixes whose 404 is RFC 9457 problem+json rather than the site's page (the API registers
# "/api/" in its AppConfig.ready(); the kit imports no app).
PROBLEM_JSON_PREFIXES: list[str] = []


def answer_problems_under(prefix: str) -> None:
    if prefix not in PROBLEM_JSON_PREFIXES:
        PROBLEM_JSON_PREFIXES.append(prefix)


def _problem_404() -> HttpResponse:
    body = {"type": "about:blank", "title": "Not found", "status": 404, "detail": "No such resource.",
            "code": "not_found"}
    return HttpResponse(json.dumps(body), status=404, content_type="application/problem+json")


class NulInUrlMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if NUL in request.path or any(
            NUL in key or any(NUL in value for value in values) for key, values in request.GET.lists()
        ):
            if request.path.startswith(tuple(PROBLEM_JSON_PREFIXES)):
                return _problem_404()
            raise Http404("NUL in the URL")
        return self.get_response(request)
