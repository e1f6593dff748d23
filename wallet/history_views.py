"""Transaction history pages: the ledger with filters and keyset pages, a balance chart, a CSV."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from . import history as queries
from .charts import balance_chart


@require_GET
@login_required
def history(request):
    """The user's ledger, newest first, 50 a page; filters and cursors live in the URL."""
    form = queries.HistoryFilterForm(request.GET)
    filters = form.filters
    if form.is_valid():
        ledger = queries.filtered_ledger(request.user, filters)
        page = queries.ledger_page(
            queries.with_promotional_part(ledger),
            before=request.GET.get("before"),
            after=request.GET.get("after"),
        )
        queries.count_position(ledger, page)
    else:
        # Filters we cannot apply: the errors show inline and no rows are listed (listing everything
        # would pass for the answer to the question asked).
        page = queries.LedgerPage(rows=[], newer_cursor=None, older_cursor=None, is_first=True)
    days = queries.chart_days(request.GET.get("days"))
    # The overview (chart, card payments) belongs to the first page; older pages are just rows.
    overview = page.is_first
    series = queries.balance_series(request.user, days) if overview else None
    chart = (
        balance_chart(series.points, days=days, currency=settings.WALLET_CURRENCY)
        if series and series.has_history
        else None
    )
    return render(
        request,
        "wallet/history.html",
        {
            "form": form,
            "filters_active": bool(filters),
            "page": page,
            "transactions": queries.shown_rows(page.rows),
            "chart": chart,
            "chart_days": days,
            "chart_choices": queries.CHART_DAYS,
            "overview": overview,
            "problem_topups": queries.problem_topups(request.user) if overview else [],
        },
    )


@require_GET
@login_required
def history_csv(request):
    """The filtered ledger as CSV, streamed row by row (constant memory for any size)."""
    form = queries.HistoryFilterForm(request.GET)
    if not form.is_valid():
        # A clear 400 rather than a file of everything (or of nothing, for a reversed range).
        return HttpResponse(
            f"Cannot export: {form.error_text()}\n", status=400, content_type="text/plain; charset=utf-8"
        )
    filters = form.filters
    rows = queries.csv_rows(queries.filtered_ledger(request.user, filters), settings.WALLET_CURRENCY)
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    filename = f"netcop-wallet-history-{timezone.localdate():%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
