"""Helpers to run callables at the same moment from many threads, each on its own DB connection."""

import threading

from django.db import connections


def run_concurrently(fn, n: int, timeout: float = 120):
    """Call fn(i) from n threads released together; return the results (or exceptions) by index."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i):
        try:
            barrier.wait(timeout=timeout)
            results[i] = fn(i)
        except BaseException as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    return results
