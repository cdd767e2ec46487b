"""Hostile users (issue 12), part two: throttles, sessions, marketplace rules and the pages' own defences, through
nginx. What the tests share is in hostile.py; the other half is test_hostile.py."""
import base64
import json
import os
import secrets
import threading
import time
import uuid

import requests

from hostile import *  # noqa: F401,F403 (the shared helpers and constants)


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
