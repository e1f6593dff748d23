"""Flash messages are one status region, not a list with a role (issue 18, item 17: axe found
`listitem` and `aria-allowed-role` on every page that showed one)."""

import pytest

from tests.helpers import elements

pytestmark = pytest.mark.django_db


def test_flash_messages_are_one_status_region_that_is_not_a_list(auth_client):
    resp = auth_client.post("/accounts/", {"username": "Alice"}, follow=True)
    html = resp.content.decode()
    assert "Your display name was saved." in html
    found = elements(html)
    # role=status is not allowed on <ul> (axe aria-allowed-role), and a <ul> with a role is no list
    # for its <li>s (axe listitem).
    statuses = [(tag, attrs) for tag, attrs, _, _ in found if attrs.get("role") == "status"]
    assert statuses and all(tag in {"div", "section", "p"} for tag, _ in statuses)
    for tag, _attrs, parent_tag, parent_attrs in found:
        if tag == "li":
            assert parent_tag in {"ul", "ol"} and "role" not in parent_attrs
