"""The end of an order's life through nginx, nats-server and the Stripe emulator: paid, or expired and freed.
The stack runs with a short EXPIRATION_WINDOW_SECONDS (the test script sets it) so expiries happen within a test."""
import os
import time

import requests

from helpers import eventually, signed_in

WINDOW = int(os.environ.get("EXPIRATION_WINDOW_SECONDS", "900"))


def reserved_order(base, price):
    seller, buyer = signed_in(base), signed_in(base)
    ticket = seller.post(base + "/api/tickets", json={"title": "Show", "price": price}).json()

    def reserve():
        response = buyer.post(base + "/api/orders", json={"ticketId": ticket["id"]})
        return response.json() if response.status_code == 201 else None

    return buyer, ticket, eventually(reserve)


def listed(base, ticket_id):
    return any(t["id"] == ticket_id for t in requests.get(base + "/api/tickets?limit=1000").json())


def pay(base, buyer, order_id, token="pm_card_visa"):
    # The payments service learns of the order from order:created, so the first tries may be 404.
    # A requests.Response is falsy when it is an error, so it travels through `eventually` in a list.
    def attempt():
        response = buyer.post(base + "/api/payments", json={"token": token, "orderId": order_id})
        return [response] if response.status_code != 404 else None

    return eventually(attempt)[0]


def test_a_paid_order_completes_and_never_expires(base_url):
    assert WINDOW <= 15, "run the stack with a short EXPIRATION_WINDOW_SECONDS"
    buyer, ticket, order = reserved_order(base_url, 25.5)
    paid = pay(base_url, buyer, order["id"])
    assert paid.status_code == 201, paid.text
    assert set(paid.json()) == {"id"}

    status = lambda: buyer.get(base_url + f"/api/orders/{order['id']}").json()["status"]
    assert eventually(lambda: status() == "complete")
    time.sleep(WINDOW + 2)
    assert status() == "complete"
    assert not listed(base_url, ticket["id"]), "a sold ticket is never listed again"
    again = buyer.post(base_url + "/api/payments", json={"token": "pm_card_visa", "orderId": order["id"]})
    assert again.status_code == 400
    assert again.json() == {"errors": [{"message": "Order has already been paid"}]}


def test_an_unpaid_order_expires_and_frees_its_ticket(base_url):
    buyer, ticket, order = reserved_order(base_url, 12)
    assert eventually(lambda: buyer.get(base_url + f"/api/orders/{order['id']}").json()["status"] == "cancelled",
                      timeout=WINDOW + 5)
    assert eventually(lambda: listed(base_url, ticket["id"]))
    late = pay(base_url, buyer, order["id"])
    assert late.status_code == 400
    assert late.json()["errors"][0]["message"] in ("Cannot pay for a cancelled order", "Order has expired")


def test_a_declined_card_is_402_and_a_card_token_then_pays(base_url):
    buyer, _, order = reserved_order(base_url, 8)
    declined = pay(base_url, buyer, order["id"], token="pm_card_chargeCustomerFail")
    assert declined.status_code == 402
    assert declined.json() == {"errors": [{"message": "Your card was declined."}]}

    # What Stripe.js createToken does in the browser: the publishable key and the card, straight to Stripe.
    stripe = os.environ["STRIPE_API_BASE"]
    token = requests.post(stripe + "/v1/tokens", data={
        "key": "pk_test_local", "card[number]": "4242424242424242", "card[exp_month]": "12",
        "card[exp_year]": "2030", "card[cvc]": "123",
    }).json()["id"]
    assert token.startswith("tok_")
    paid = pay(base_url, buyer, order["id"], token=token)
    assert paid.status_code == 201, paid.text
