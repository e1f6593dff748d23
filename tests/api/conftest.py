import pytest


@pytest.fixture
def make_key(db):
    """Factory: make_key(user, scopes=[...], monthly_cap=...) -> (ApiKey, secret), through the service."""
    from authentication import api_keys

    def factory(user, scopes=("agents:run", "wallet:read", "history:read"), name="test key", **kw):
        return api_keys.create_key(user=user, name=name, scopes=list(scopes), **kw)

    return factory


@pytest.fixture
def bearer():
    def header(secret):
        return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    return header
