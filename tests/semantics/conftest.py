"""The semantics tests run the site's app plus the lab's test-only handlers,
over a store that records what it is asked."""

import pytest

from semantics.lab import RecordingStore, Servers, make_lab_app


@pytest.fixture
def store():
    return RecordingStore()


@pytest.fixture
def app(store, session_config):
    return make_lab_app(store, session_config)


@pytest.fixture
def servers(http_client, io_loop):
    """More servers beside the app's, for tests that need two configurations."""
    servers = Servers(http_client)
    yield servers
    io_loop.run_sync(servers.stop_all)
