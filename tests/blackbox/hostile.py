"""What the hostile-user tests share: accounts, tickets and orders made through nginx, and the tools an attacker
uses (raw bytes, several loopback source addresses, simultaneous requests)."""
import html.parser
import http.client
import json
import os
import random
import time
import uuid
from urllib.parse import urlsplit

import requests

from helpers import eventually

PASSWORD = "secret"
ENVELOPE_KEYS = {"errors"}


# MARK: - What these tests share


def account(base):
    """A new user signed up through the API: a browser-like session holding its cookies, with its email."""
    session = requests.Session()
    session.base = base
    session.email = f"hostile-{uuid.uuid4().hex[:12]}@example.com"
    response = session.post(base + "/api/users/signup", json={"email": session.email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    session.user_id = response.json()["id"]
    return session


def fresh(base, source=None):
    """A client with no cookies at all; from the loopback address `source`, if given."""
    session = requests.Session()
    session.base = base
    if source:
        session.mount("http://", SourceAddressAdapter(source))
    return session


class SourceAddressAdapter(requests.adapters.HTTPAdapter):
    """Connects from a chosen local address, which nginx then takes as the client's."""

    def __init__(self, source):
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def until(check, what, timeout=5.0):
    """Polls `check` until it returns something truthy; fails saying `what` was expected, and what was seen last."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not so within {timeout} s")
        time.sleep(0.05)


def unique(prefix):
    return f"{prefix} {uuid.uuid4().hex[:10]}"


def is_envelope(body, field=None):
    """`{"errors":[{"message": str, ("field": field)}]}` with at least one entry."""
    if not isinstance(body, dict) or set(body) != ENVELOPE_KEYS or not body["errors"]:
        return False
    for item in body["errors"]:
        if not isinstance(item.get("message"), str) or not item["message"]:
            return False
    return field is None or any(item.get("field") == field for item in body["errors"])


def json_or_none(response):
    try:
        return response.json()
    except ValueError:
        return None


def retry_after(headers):
    value = headers.get("Retry-After")
    assert value is not None, f"a 429 says when to try again (Retry-After); headers were {dict(headers)}"
    assert value.isdigit() and int(value) >= 1, f"Retry-After is whole seconds, at least 1: {value!r}"
    return int(value)


def set_cookie_headers(response):
    """Every Set-Cookie header of a response, one string each (requests folds them into one)."""
    return response.raw.headers.getlist("Set-Cookie")


def all_tickets(base):
    """Every listed ticket, following the listing's `Link: rel="next"` pages."""
    tickets, url = [], base + "/api/tickets?limit=1000"
    while url:
        response = requests.get(url)
        assert response.status_code == 200, response.text
        tickets += response.json()
        link = response.headers.get("Link")
        url = base + link.split(">")[0].lstrip("<") if link and 'rel="next"' in link else None
    return tickets


def titled(base, title):
    return [ticket for ticket in all_tickets(base) if ticket["title"] == title]


def list_ticket(seller, price=10, title=None):
    response = seller.post(seller.base + "/api/tickets", json={"title": title or unique("Hostile"), "price": price})
    assert response.status_code == 201, response.text
    return response.json()


def order(buyer, ticket_id):
    """POST /api/orders, retried while the orders service has not heard of the ticket yet (404)."""
    def attempt():
        response = buyer.post(buyer.base + "/api/orders", json={"ticketId": ticket_id})
        return [response] if response.status_code != 404 else None

    return eventually(attempt)[0]


def reserved(buyer, ticket_id):
    response = order(buyer, ticket_id)
    assert response.status_code == 201, response.text
    return response.json()


class Hidden(html.parser.HTMLParser):
    """The hidden inputs of a page, by name."""

    def __init__(self):
        super().__init__()
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "input" and attributes.get("type") == "hidden" and "name" in attributes:
            self.fields[attributes["name"]] = attributes.get("value") or ""


def form_token(session, path):
    """GET a page with a form and return its hidden `_csrf` (the page also sets the `csrf` cookie in the jar)."""
    page = session.get(session.base + path)
    assert page.status_code == 200, f"GET {path}: {page.status_code}"
    parser = Hidden()
    parser.feed(page.text)
    assert parser.fields.get("_csrf"), f"{path} has a hidden _csrf field"
    return parser.fields["_csrf"]


def web_sign_in(base, email, next_path):
    """Signs in through the web form with a fresh browser; returns the form post's response, not followed."""
    browser = fresh(base)
    token = form_token(browser, "/auth/signin")
    return browser.post(base + "/auth/signin", allow_redirects=False,
                        data={"_csrf": token, "email": email, "password": PASSWORD, "next": next_path})


def post_utf8_json(session, path, body):
    """JSON sent as UTF-8 text rather than \\u escapes: what a browser's fetch sends, and 6x smaller for marks."""
    return session.post(session.base + path, data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                        headers={"Content-Type": "application/json"})


class Loopback:
    """HTTP/1.1 from a chosen loopback source address, one kept-alive connection: nginx sees that address as the
    client's (requests cannot choose a source address)."""

    def __init__(self, base, source):
        url = urlsplit(base)
        self.host, self.port, self.source = url.hostname, url.port, source
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30, source_address=(source, 0))

    def post_json(self, path, body):
        payload = json.dumps(body)
        headers = {"Content-Type": "application/json"}
        try:
            self.connection.request("POST", path, body=payload, headers=headers)
            response = self.connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # nginx closed the kept-alive connection between requests: this request never reached it.
            self.connection.close()
            self.connection.request("POST", path, body=payload, headers=headers)
            response = self.connection.getresponse()
        data = response.read()
        return response.status, response.headers, json.loads(data) if data else None

    def close(self):
        self.connection.close()


def loopback_addresses(count):
    """Source addresses on loopback (127.0.0.2 to 127.0.0.250) that nobody else in the suite uses."""
    return [f"127.0.0.{x}" for x in random.sample(range(2, 251), count)]


def send_together(base, first, second):
    """Writes two requests on two open connections, the second right behind the first, and only then reads both
    answers. Each request is (method, path, body, cookie). Returns [(status, json body)] in order."""
    url = urlsplit(base)
    connections = [http.client.HTTPConnection(url.hostname, url.port, timeout=30) for _ in range(2)]
    try:
        for connection in connections:
            connection.connect()
        for connection, (method, path, body, cookie) in zip(connections, (first, second)):
            connection.request(method, path, body=json.dumps(body),
                               headers={"Content-Type": "application/json", "Cookie": f"session={cookie}"})
        answers = []
        for connection in connections:
            response = connection.getresponse()
            data = response.read()
            answers.append((response.status, json.loads(data) if data else None))
        return answers
    finally:
        for connection in connections:
            connection.close()


def stripe_intent_for(order_id):
    """The PaymentIntent the Stripe emulator holds for an order (payments puts the order id in its metadata)."""
    stripe = os.environ.get("STRIPE_API_BASE")
    assert stripe, "STRIPE_API_BASE is not set: run against a stack started by scripts/lib/stack.sh (it exports it)"
    headers = {"Authorization": "Bearer sk_test_local"}
    after = None
    while True:
        query = {"limit": 100, **({"starting_after": after} if after else {})}
        page = requests.get(stripe + "/v1/payment_intents", params=query, headers=headers)
        assert page.status_code == 200, page.text
        listing = page.json()
        for intent in listing["data"]:
            if (intent.get("metadata") or {}).get("order_id") == order_id:
                return intent
        if not listing.get("has_more") or not listing["data"]:
            return None
        after = listing["data"][-1]["id"]
