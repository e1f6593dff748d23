"""Issue 18, the admin: a NUL in any admin URL answers 404 (item 3; PostgreSQL refused it with a 500),
and what the admin shows: card brand and last4 instead of raw ids, readable object names, one date
format (item 18)."""

import pytest
from django.contrib.admin.sites import site as admin_site
from django.urls import reverse

REGISTERED = sorted(admin_site._registry, key=lambda model: model._meta.label)


@pytest.fixture
def superuser_client(client, make_user):
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_a_nul_in_any_admin_url_answers_404(superuser_client, model):
    # /admin/wallet/stripeevent/%00/change/ answered 500 on PostgreSQL (it refuses NUL in text).
    info = model._meta.app_label, model._meta.model_name
    changelist = reverse(f"admin:{info[0]}_{info[1]}_changelist")
    for path in (f"{changelist}%00/change/", f"{changelist}%00/history/", f"{changelist}%00/delete/",
                 f"{changelist}a%00b/change/", f"{changelist}?q=%00", f"{changelist}?q=a%00b",
                 f"{changelist}?id__exact=%00", f"{changelist}?%00=1"):
        assert superuser_client.get(path).status_code == 404, path


@pytest.mark.django_db
def test_a_nul_outside_the_admin_answers_404_too(client):
    assert client.get("/wallet/%00/").status_code == 404
    assert client.get("/accounts/login/?next=%00").status_code == 404
