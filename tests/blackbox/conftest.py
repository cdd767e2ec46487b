import os
import uuid

import pytest
import requests


@pytest.fixture(scope="session")
def base_url():
    return os.environ.get("TICKETING_URL", "http://127.0.0.1:8080")


@pytest.fixture
def client(base_url):
    """A fresh browser-like session (its own cookie jar) pointed at the front door."""
    session = requests.Session()
    session.base = base_url
    yield session
    session.close()


@pytest.fixture
def email():
    return f"user-{uuid.uuid4().hex[:12]}@example.com"
