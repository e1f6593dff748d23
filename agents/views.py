from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def catalogue(request):
    """The agent catalogue."""
    return render(request, "agents/catalogue.html")
