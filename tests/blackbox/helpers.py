"""What the black-box tests share: a signed-in browser-like session and polling for eventual consistency."""
import time
import uuid

import requests


def signed_in(base):
    session = requests.Session()
    session.base = base
    email = f"user-{uuid.uuid4().hex[:12]}@example.com"
    response = session.post(base + "/api/users/signup", json={"email": email, "password": "secret"})
    assert response.status_code == 201
    session.user_id = response.json()["id"]
    return session


def eventually(check, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
