"""Hostile users (issue 12): what someone trying to break or abuse the marketplace sends, through nginx.

Each test signs up its own users, so the tests are independent of each other and of the rest of tests/blackbox.
Limits are read from the environment under the contract's names (CONTRACT.md section 6), with the documented
defaults. Sign-ups that must be counted per client address are sent from a loopback source address of their own
(127.0.0.x), which nginx passes on as the client's address.
"""
import base64
import html.parser
import http.client
import json
import os
import random
import secrets
import threading
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


# MARK: - A. Redirects after signing in


def test_signin_next_is_only_ever_a_path_on_this_site(base_url):
    user = account(base_url)
    injected = web_sign_in(base_url, user.email, "/orders\r\nX-Anything: yes")
    assert injected.status_code == 303, injected.text[:300]
    assert "X-Anything" not in injected.headers, f"a header was injected through next: {sorted(injected.headers)}"
    assert injected.headers["Location"] == "/", repr(injected.headers["Location"])

    tab = web_sign_in(base_url, user.email, "/\t/evil.example/")
    assert tab.status_code == 303
    assert tab.headers["Location"] == "/", f"browsers drop tabs, making this //evil.example/: {tab.headers['Location']!r}"

    plain = web_sign_in(base_url, user.email, "/orders")
    assert plain.status_code == 303 and plain.headers["Location"] == "/orders"
    for elsewhere in ("/\\evil.example", "//evil.example", "//evil.example/orders"):
        response = web_sign_in(base_url, user.email, elsewhere)
        assert response.status_code == 303 and response.headers["Location"] == "/", (elsewhere, response.headers.get("Location"))


# MARK: - B. Money


def test_a_price_string_is_read_whole_or_refused(base_url):
    seller = account(base_url)
    # What is already right stays right: 12.5 as a string or a number, and too many decimals refused.
    for price in ("12.5", 12.5):
        created = seller.post(base_url + "/api/tickets", json={"title": unique("Exact"), "price": price})
        assert created.status_code == 201, (price, created.text)
        assert created.json()["price"] == 12.5
    too_precise = seller.post(base_url + "/api/tickets", json={"title": unique("Exact"), "price": 12.345})
    assert too_precise.status_code == 400 and is_envelope(too_precise.json(), field="price"), too_precise.text

    wrong = []
    titles = {}
    for price in ("12abc", "1,000", "9.99.99", " 12", "1e3"):
        titles[price] = unique("Garbled price")
        response = seller.post(base_url + "/api/tickets", json={"title": titles[price], "price": price})
        if response.status_code != 400 or not is_envelope(json_or_none(response), field="price"):
            wrong.append(f"price {price!r} answered {response.status_code} {response.text}")
    listed = {ticket["title"]: ticket["price"] for ticket in all_tickets(base_url)}
    for price, title in titles.items():
        if title in listed:
            wrong.append(f"price {price!r} listed a ticket at {listed[title]}")
    assert not wrong, "prices that are not plain decimal text must be refused (400, field price):\n" + "\n".join(wrong)


def test_the_sell_form_reads_written_prices_exactly_or_shows_the_form_again(base_url):
    seller = account(base_url)  # the web reads the same session cookie, so this session is signed in there too

    def sell(price):
        title = unique("Form price")
        token = form_token(seller, "/tickets/new")
        response = seller.post(base_url + "/tickets/new", data={"_csrf": token, "title": title, "price": price},
                               allow_redirects=False)
        return title, response

    wrong = []
    for price in ("$1,500", "1,500", "$1,500.00"):
        title, response = sell(price)
        listed = titled(base_url, title)
        if response.status_code >= 400 or [ticket["price"] for ticket in listed] != [1500]:
            wrong.append(f"{price!r}: answered {response.status_code}, listed at {[t['price'] for t in listed]}, not 1500")
    for price in ("1,50", "12abc", "9.99.99"):
        title, response = sell(price)
        listed = titled(base_url, title)
        form_again = 'action="/tickets/new"' in response.text and 'name="price"' in response.text
        if response.status_code != 400 or not form_again or listed:
            wrong.append(f"{price!r}: answered {response.status_code} (form shown again: {form_again}), "
                         f"listed at {[t['price'] for t in listed]}")
    assert not wrong, "the sell form must read a written price exactly or refuse it:\n" + "\n".join(wrong)


# MARK: - C. The price is fixed when the order is made


def test_an_order_is_paid_at_the_price_it_was_made_at_though_the_seller_edits_meanwhile(base_url):
    assert os.environ.get("STRIPE_API_BASE"), "STRIPE_API_BASE is not set: it names the Stripe emulator (stack.sh exports it)"
    seller, buyer = account(base_url), account(base_url)
    made = edit_status = ticket = None
    for trial in range(3):
        ticket = list_ticket(seller, price=100, title=unique("Fixed price"))
        # The orders service learns of tickets from events: a reservation that succeeds shows it has; the buyer lets
        # it go again and waits for the tickets service to free the ticket, so that the seller may edit it.
        probe = reserved(buyer, ticket["id"])
        assert buyer.delete(base_url + f"/api/orders/{probe['id']}").status_code == 204
        until(lambda: "orderId" not in requests.get(base_url + f"/api/tickets/{ticket['id']}").json(), "the ticket is freed")
        # The buyer orders and the seller halves the price at the same moment: the seller's edit is accepted (the
        # tickets service has not yet heard of the order) while the order is being made at 100.
        (order_status, made), (edit_status, edited) = send_together(
            base_url,
            ("POST", "/api/orders", {"ticketId": ticket["id"]}, buyer.cookies["session"]),
            ("PUT", f"/api/tickets/{ticket['id']}", {"title": ticket["title"], "price": 50}, seller.cookies["session"]),
        )
        assert order_status == 201, made
        assert edit_status == 200 or edited == {"errors": [{"message": "Cannot edit a reserved ticket"}]}, edited
        if (made["ticket"]["price"] == 100 and edit_status == 200) or trial == 2:
            break
        # The race went the other way (the edit was refused, or reached the orders service first): again.
        assert buyer.delete(base_url + f"/api/orders/{made['id']}").status_code == 204
    assert made["ticket"]["price"] == 100, f"the order was made at {made['ticket']['price']}"
    if edit_status == 200:
        assert requests.get(base_url + f"/api/tickets/{ticket['id']}").json()["price"] == 50, "the edit took"

    seen = []
    for _ in range(6):
        seen.append(buyer.get(base_url + f"/api/orders/{made['id']}").json()["ticket"]["price"])
        time.sleep(0.2)
    assert seen == [100] * 6, f"the order made at 100 showed {seen} after the seller's edit (edit answered {edit_status})"

    def pay():
        response = buyer.post(base_url + "/api/payments", json={"token": "pm_card_visa", "orderId": made["id"]})
        return [response] if response.status_code != 404 else None

    paid = eventually(pay)[0]
    assert paid.status_code == 201, paid.text
    intent = stripe_intent_for(made["id"])
    assert intent is not None, "the Stripe emulator holds a PaymentIntent for the order"
    assert intent["amount"] == 10000 and intent["currency"] == "usd", (intent["amount"], intent["currency"])
    assert buyer.get(base_url + f"/api/orders/{made['id']}").json()["ticket"]["price"] == 100


def test_a_cancelled_order_still_shows_the_price_it_was_made_at(base_url):
    # Deterministic: an edit after the order is cancelled always reaches the orders service's copy of the ticket.
    seller, buyer = account(base_url), account(base_url)
    ticket = list_ticket(seller, price=100, title=unique("Was 100"))
    made = reserved(buyer, ticket["id"])
    assert made["ticket"]["price"] == 100
    assert buyer.delete(base_url + f"/api/orders/{made['id']}").status_code == 204
    until(lambda: "orderId" not in requests.get(base_url + f"/api/tickets/{ticket['id']}").json(), "the ticket is freed")
    edit = seller.put(base_url + f"/api/tickets/{ticket['id']}", json={"title": ticket["title"], "price": 50})
    assert edit.status_code == 200, edit.text
    seen = []
    for _ in range(8):
        seen.append(buyer.get(base_url + f"/api/orders/{made['id']}").json()["ticket"]["price"])
        time.sleep(0.15)
    assert seen == [100] * 8, f"an order made at 100 showed {seen} once the seller changed the ticket to 50"


# MARK: - D. Text


def test_titles_with_control_direction_or_piled_up_characters_are_refused(base_url):
    seller = account(base_url)
    wrong = []
    for name, title in (("NUL", "Show \u0000 night"), ("BEL", "Show \u0007 night"), ("DEL", "Show \u007f night"),
                        ("RIGHT-TO-LEFT OVERRIDE", "Show \u202e thgin"), ("LEFT-TO-RIGHT ISOLATE", "Show \u2066 night"),
                        ("3000 combining marks", "a" + "\u0301" * 3000)):
        response = post_utf8_json(seller, "/api/tickets", {"title": title, "price": 5})
        if response.status_code != 400 or not is_envelope(json_or_none(response), field="title"):
            wrong.append(f"{name}: {response.status_code} {response.text[:160]!r}")
    assert not wrong, "titles that hide or pile up characters must be 400 with field title:\n" + "\n".join(wrong)


def test_titles_are_stored_in_composed_form(base_url):
    seller = account(base_url)
    created = post_utf8_json(seller, "/api/tickets", {"title": "Cafe\u0301", "price": 5})
    assert created.status_code == 201, created.text
    assert created.json()["title"] == "Caf\u00e9", ascii(created.json()["title"])
    stored = requests.get(base_url + f"/api/tickets/{created.json()['id']}").json()
    assert stored["title"] == "Caf\u00e9", ascii(stored["title"])


def test_an_email_with_a_nul_is_not_an_email(base_url):
    response = fresh(base_url).post(base_url + "/api/users/signup", json={"email": "a\u0000b@example.com", "password": PASSWORD})
    assert response.status_code == 400, response.text
    assert response.json() == {"errors": [{"message": "Email must be valid", "field": "email"}]}


# MARK: - E. JSON only


UNSUPPORTED = {"errors": [{"message": "Content-Type must be application/json"}]}


def test_a_form_post_to_the_tickets_api_is_refused_with_415(base_url):
    seller = account(base_url)
    response = seller.post(base_url + "/api/tickets", data="title=x&price=5",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415, f"{response.status_code} {response.text}"
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == UNSUPPORTED


def test_a_text_plain_sign_up_is_refused_with_415(base_url):
    body = json.dumps({"email": f"plain-{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD})
    response = fresh(base_url).post(base_url + "/api/users/signup", data=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 415, f"{response.status_code} {response.text}"
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == UNSUPPORTED


# MARK: - F. Sign-in throttle


def cookie_names(response):
    return [header.split("=", 1)[0] for header in set_cookie_headers(response)]


def device_cookie(response):
    return [header for header in set_cookie_headers(response) if header.startswith("device=")]


def test_signing_up_and_in_gives_the_browser_an_httponly_device_cookie(base_url):
    email = f"device-{uuid.uuid4().hex[:10]}@example.com"
    signup = fresh(base_url).post(base_url + "/api/users/signup", json={"email": email, "password": PASSWORD})
    assert signup.status_code == 201, signup.text
    cookies = device_cookie(signup)
    assert cookies and "httponly" in cookies[0].lower(), f"sign-up sets cookies {cookie_names(signup)}"
    signin = fresh(base_url).post(base_url + "/api/users/signin", json={"email": email, "password": PASSWORD})
    assert signin.status_code == 200, signin.text
    cookies = device_cookie(signin)
    assert cookies and "httponly" in cookies[0].lower(), f"sign-in sets cookies {cookie_names(signin)}"


def test_simultaneous_guesses_are_all_counted_and_the_owners_browser_still_signs_in(base_url):
    limit = int(os.environ.get("SIGNIN_LIMIT_PER_EMAIL", "5"))
    guessers = 12
    assert guessers > limit
    owner = account(base_url)  # holds the device cookie sign-up sets, besides the session
    # The guessers share an address of their own, so that what the rest of the suite does from 127.0.0.1 does not
    # count against the address limit here (nor these guesses against it there).
    (address,) = loopback_addresses(1)
    clients = [fresh(base_url, address) for _ in range(guessers)]
    for client in clients:  # open each connection first, so that the guesses leave together
        client.get(base_url + "/api/users/currentuser")
    barrier = threading.Barrier(guessers)
    answers = [None] * guessers

    def guess(index):
        barrier.wait(timeout=10)
        answers[index] = clients[index].post(base_url + "/api/users/signin",
                                             json={"email": owner.email, "password": f"guess-{index}"})

    threads = [threading.Thread(target=guess, args=(index,)) for index in range(guessers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(answer is not None for answer in answers), "every guess was answered"
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [400] * limit + [429] * (guessers - limit), \
        f"of {guessers} simultaneous wrong passwords exactly {limit} may be checked: {statuses}"
    for answer in answers:
        if answer.status_code == 400:
            assert answer.json() == {"errors": [{"message": "Invalid credentials"}]}
        else:
            retry_after(answer.headers)
            assert is_envelope(answer.json()) and len(answer.json()["errors"]) == 1, answer.text

    stranger = fresh(base_url, address).post(base_url + "/api/users/signin", json={"email": owner.email, "password": PASSWORD})
    assert stranger.status_code == 429, "a browser that never signed in to the account is locked out for now"
    retry_after(stranger.headers)

    assert owner.post(base_url + "/api/users/signout").status_code == 200
    assert "session" not in owner.cookies
    back = owner.post(base_url + "/api/users/signin", json={"email": owner.email, "password": PASSWORD})
    assert back.status_code == 200, f"the owner's own browser (device cookie: {'device' in owner.cookies}) " \
                                    f"must still sign in: {back.status_code} {back.text}"


# MARK: - G. Sign-up throttle per client address


def test_signups_from_one_address_are_limited_and_refused_cheaply(base_url):
    limit = int(os.environ.get("SIGNUP_LIMIT", "20"))
    address, other = loopback_addresses(2)
    client = Loopback(base_url, address)
    email = f"many-{uuid.uuid4().hex[:10]}@example.com"
    try:
        status, _, body = client.post_json("/api/users/signup", {"email": email, "password": PASSWORD})
        assert status == 201, body
        started = time.monotonic()
        for attempt in range(2, limit + 1):
            status, headers, body = client.post_json("/api/users/signup", {"email": email, "password": PASSWORD})
            assert status != 429, f"sign-up attempt {attempt} of at most {limit} from {address} was refused with 429"
            assert status == 400 and body == {"errors": [{"message": "Email in use"}]}, (attempt, status, body)
            repeats = attempt - 1
            if repeats >= 10:
                each = (time.monotonic() - started) / repeats
                assert each < 0.1, (f"sign-ups with an email in use took {each:.2f} s each over {repeats} tries: they "
                                    "must be refused before the password is hashed")
        status, headers, body = client.post_json("/api/users/signup", {"email": email, "password": PASSWORD})
        assert status == 429, f"sign-up attempt {limit + 1} from {address} answered {status} {body}"
        retry_after(headers)
        assert is_envelope(body), body
    finally:
        client.close()
    elsewhere = Loopback(base_url, other)
    try:
        status, _, body = elsewhere.post_json("/api/users/signup", {"email": f"else-{uuid.uuid4().hex[:10]}@example.com",
                                                                    "password": PASSWORD})
        assert status == 201, f"a sign-up from another address still works: {status} {body}"
    finally:
        elsewhere.close()


# MARK: - H. Sessions end


def test_a_signed_out_session_cookie_is_dead_everywhere(base_url):
    user = account(base_url)
    cookie = user.cookies["session"]
    assert user.post(base_url + "/api/users/signout").status_code == 200
    stolen = {"Cookie": f"session={cookie}"}

    until(lambda: requests.get(base_url + "/api/users/currentuser", headers=stolen).json() == {"currentUser": None},
          "after sign-out, the old cookie is signed out at auth")
    until(lambda: (lambda r: r.status_code == 401 and r.json() == {"errors": [{"message": "Not authorized"}]})(
        requests.post(base_url + "/api/tickets", json={"title": "After sign-out", "price": 5}, headers=stolen)),
        "after sign-out, the old cookie cannot list a ticket (401)")
    until(lambda: requests.get(base_url + "/api/orders", headers=stolen).status_code == 401,
          "after sign-out, the old cookie cannot read orders (401)")

    def signed_out_page():
        page = requests.get(base_url + "/", headers=stolen)
        return page.status_code == 200 and 'href="/auth/signin"' in page.text and user.email not in page.text

    until(signed_out_page, "after sign-out, the old cookie shows the signed-out pages")


def test_a_quoted_session_cookie_is_read_and_an_oversized_one_is_no_session(base_url):
    # Shaped like a real one (base64 of {"jwt": "..."}), only far too long: 5,000 bytes.
    oversized = ""
    padding = 3600
    while len(oversized) != 5000:
        token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + "e" * padding + ".c2lnbmF0dXJl"
        oversized = base64.b64encode(json.dumps({"jwt": token}).encode()).decode()
        padding += 1 if len(oversized) < 5000 else -1
    response = requests.get(base_url + "/api/users/currentuser", headers={"Cookie": f"session={oversized}"})
    assert response.status_code == 200 and response.json() == {"currentUser": None}, response.text

    user = account(base_url)
    quoted = requests.get(base_url + "/api/users/currentuser", headers={"Cookie": f'session="{user.cookies["session"]}"'})
    assert quoted.status_code == 200
    current = quoted.json()["currentUser"]
    assert current is not None and current["id"] == user.user_id, f"session=\"...\" is the same cookie: {quoted.text}"


# MARK: - I. Marketplace rules


def test_a_seller_cannot_order_their_own_ticket(base_url):
    seller = account(base_url)
    ticket = list_ticket(seller)
    response = order(seller, ticket["id"])
    assert response.status_code == 400, f"{response.status_code} {response.text}"
    assert response.json() == {"errors": [{"message": "Cannot order your own ticket"}]}


def test_a_buyer_holds_a_limited_number_of_reservations_at_once(base_url):
    held = int(os.environ.get("ACTIVE_ORDERS_PER_USER", "5"))
    seller, buyer = account(base_url), account(base_url)
    tickets = [list_ticket(seller) for _ in range(held + 1)]
    orders = [reserved(buyer, ticket["id"]) for ticket in tickets[:held]]
    one_more = order(buyer, tickets[held]["id"])
    assert one_more.status_code == 400, f"reservation {held + 1}: {one_more.status_code} {one_more.text}"
    assert one_more.json() == {"errors": [{
        "message": f"You can hold at most {held} reservations at once: pay for or cancel one first"}]}
    assert buyer.delete(base_url + f"/api/orders/{orders[0]['id']}").status_code == 204
    again = order(buyer, tickets[held]["id"])
    assert again.status_code == 201, again.text


def test_a_buyer_can_make_only_so_many_orders_in_a_window(base_url):
    limit = int(os.environ.get("ORDER_LIMIT", "20"))
    seller, buyer = account(base_url), account(base_url)
    ticket = list_ticket(seller)
    for made in range(1, limit + 1):
        response = order(buyer, ticket["id"])
        assert response.status_code == 201, f"order {made} of {limit}: {response.status_code} {response.text}"
        assert buyer.delete(base_url + f"/api/orders/{response.json()['id']}").status_code == 204
    response = order(buyer, ticket["id"])
    assert response.status_code == 429, f"order {limit + 1} in the window: {response.status_code} {response.text}"
    retry_after(response.headers)
    assert is_envelope(response.json()), response.text


def test_orders_are_listed_a_page_at_a_time(base_url):
    seller, buyer = account(base_url), account(base_url)
    made = [reserved(buyer, list_ticket(seller)["id"])["id"] for _ in range(3)]
    first = buyer.get(base_url + "/api/orders?limit=2")
    assert first.status_code == 200, first.text
    assert [o["id"] for o in first.json()] == made[:2], f"the two oldest, oldest first; got {len(first.json())} orders"
    assert first.headers.get("Link") == f'</api/orders?limit=2&after={made[1]}>; rel="next"', first.headers.get("Link")
    second = buyer.get(base_url + first.headers["Link"].split(">")[0].lstrip("<"))
    assert second.status_code == 200 and [o["id"] for o in second.json()] == made[2:], second.text
    for query, field in (("limit=0", "limit"), ("limit=abc", "limit"), ("after=not-an-id", "after")):
        response = buyer.get(base_url + "/api/orders?" + query)
        assert response.status_code == 400 and is_envelope(json_or_none(response), field=field), \
            f"?{query}: {response.status_code} {response.text[:200]}"


# MARK: - J. Pages


def header_problems(path, response):
    problems = []
    csp = response.headers.get("Content-Security-Policy")
    if not csp:
        problems.append("no Content-Security-Policy")
    else:
        directives = {}
        for directive in csp.split(";"):
            words = directive.split()
            if words:
                directives[words[0].lower()] = words[1:]
        if "'none'" not in directives.get("frame-ancestors", []):
            problems.append(f"CSP without frame-ancestors 'none': {csp}")
        scripts = directives.get("script-src", directives.get("default-src"))
        if scripts is None or "'unsafe-inline'" in scripts:
            problems.append(f"CSP lets inline or any scripts run: {csp}")
    if response.headers.get("X-Frame-Options") != "DENY":
        problems.append(f"X-Frame-Options {response.headers.get('X-Frame-Options')!r}")
    if response.headers.get("X-Content-Type-Options") != "nosniff":
        problems.append(f"X-Content-Type-Options {response.headers.get('X-Content-Type-Options')!r}")
    if not response.headers.get("Referrer-Policy"):
        problems.append("no Referrer-Policy")
    return [f"{path}: {problem}" for problem in problems]


def test_every_page_forbids_framing_sniffing_and_inline_scripts(base_url):
    seller, buyer = account(base_url), account(base_url)
    ticket = list_ticket(seller)
    made = reserved(buyer, ticket["id"])
    problems = []
    for client, path in ((fresh(base_url), "/"), (fresh(base_url), "/auth/signin"),
                         (fresh(base_url), f"/tickets/{ticket['id']}"), (buyer, f"/orders/{made['id']}")):
        response = client.get(base_url + path, allow_redirects=False)
        assert response.status_code == 200, f"{path}: {response.status_code}"
        problems += header_problems(path, response)
    assert not problems, "\n".join(problems)


def test_a_csrf_token_the_visitor_made_up_is_refused(base_url):
    user = account(base_url)
    # The site's own token, from the page with the cookie it set, works.
    assert web_sign_in(base_url, user.email, "/").status_code == 303

    made_up = secrets.token_urlsafe(32)
    assert len(made_up) == 43
    forger = fresh(base_url)
    response = forger.post(base_url + "/auth/signin", allow_redirects=False, headers={"Cookie": f"csrf={made_up}"},
                           data={"_csrf": made_up, "email": user.email, "password": PASSWORD, "next": "/"})
    assert response.status_code == 403, f"a made-up csrf cookie and field pair was accepted: {response.status_code}"
    assert "Form expired" in response.text
