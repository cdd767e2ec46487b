"""Hostile users (issue 12): what someone trying to break or abuse the marketplace sends, through nginx.

Each test signs up its own users, so the tests are independent of each other and of the rest of tests/blackbox.
Limits are read from the environment under the contract's names (CONTRACT.md section 6), with the documented
defaults. Sign-ups that must be counted per client address are sent from a loopback source address of their own
(127.0.0.x), which nginx passes on as the client's address.
"""
import json
import os
import time
import uuid

import requests

from helpers import eventually
from hostile import *  # noqa: F401,F403 (the shared helpers and constants)


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
