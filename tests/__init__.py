import pytest

# Shared helper modules assert too: let pytest rewrite their asserts for readable failures.
pytest.register_assert_rewrite("tests.helpers", "tests.strategies", "tests.concurrency")
