"""The wallet's layers (issue 17): no import cycle, the ledger knows nothing above it, and the wallet
never imports the agents app. Read from the source with grimp (imports inside functions count too)."""

import pathlib
import sys

import grimp
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Lowest first. A module may import its own layer or lower ones, never a higher one.
LAYERS = [
    {"wallet.money", "wallet.exceptions"},
    {"wallet.models", "wallet.signals"},
    {"wallet.payments", "wallet.payments.base", "wallet.payments.stripe", "wallet.payments.sandbox"},
    {"wallet.services.ledger"},
    {"wallet.emails"},
    {"wallet.services", "wallet.services.cards", "wallet.services.topups", "wallet.services.refunds",
     "wallet.services.billing", "wallet.services.stripe_events"},
    {"wallet.reconcile", "wallet.scheduler", "wallet.return_targets"},
    {"wallet.tasks", "wallet.views", "wallet.billing_views", "wallet.webhooks", "wallet.admin",
     "wallet.admin_actions", "wallet.context_processors", "wallet.apps"},
]


@pytest.fixture(scope="module")
def graph():
    sys.path.insert(0, str(ROOT))
    return grimp.build_graph("wallet", "agents", "authentication", "netcop_hub")


def test_no_import_cycle_in_the_wallet(graph):
    modules = sorted(m for m in graph.modules if m.startswith("wallet") and ".migrations" not in m)
    cycles = []
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported != module and imported.startswith("wallet") and graph.chain_exists(
                importer=imported, imported=module
            ):
                cycles.append(f"{module} <-> {imported}")
    assert cycles == []


def test_no_wallet_module_imports_a_higher_layer(graph):
    rank = {module: i for i, layer in enumerate(LAYERS) for module in layer}
    upward = []
    for module, level in rank.items():
        for imported in graph.find_modules_directly_imported_by(module):
            if rank.get(imported, -1) > level:
                upward.append(f"{module} -> {imported}")
    assert upward == []


def test_the_ledger_knows_nothing_above_it(graph):
    above = {"wallet.services.billing", "wallet.services.topups", "wallet.emails", "wallet.tasks",
             "wallet.services.cards", "wallet.payments"}
    reached = graph.find_upstream_modules("wallet.services.ledger")
    assert reached & above == set()


def test_the_wallet_never_imports_the_agents_app(graph):
    wallet = [m for m in graph.modules if m.startswith("wallet")]
    assert [
        f"{m} -> {i}" for m in wallet for i in graph.find_modules_directly_imported_by(m) if i.startswith("agents")
    ] == []
