"""Resale through nginx (CONTRACT.md section 7): a holder resells at the cap (one cent more is refused), another user
buys and pays, and by the time that order says complete the old pass is void and the new one valid. The venue
then checks the new pass in once, however many scans race. A withdrawn listing is gone."""
import concurrent.futures

import requests

from helpers import eventually, signed_in
from test_payments_expiry import pay


def order(base, buyer, ticket_id):
    # The orders service learns of a listing from ticket:created: the first tries may be 404.
    return eventually(lambda: (r := buyer.post(base + "/api/orders", json={"ticketId": ticket_id})).status_code == 201 and r.json())


def buy(base, buyer, ticket_id):
    placed = order(base, buyer, ticket_id)
    paid = pay(base, buyer, placed["id"])
    assert paid.status_code == 201, paid.text
    return placed


def verify(base, code):
    return requests.post(base + "/api/tickets/verify", json={"code": code}).json()


def test_a_resale_hands_the_ticket_over_and_voids_the_old_pass(base_url):
    venue, first, second = signed_in(base_url), signed_in(base_url), signed_in(base_url)
    ticket = venue.post(base_url + "/api/tickets", json={"title": "Final", "price": 40}).json()
    buy(base_url, first, ticket["id"])
    eventually(lambda: first.get(base_url + f"/api/tickets/{ticket['id']}").json().get("holderId") == first.user_id)
    old = first.get(base_url + f"/api/tickets/{ticket['id']}/pass").json()
    assert verify(base_url, old["code"])["valid"] is True

    above = first.post(base_url + f"/api/tickets/{ticket['id']}/resale", json={"price": "40.01"})
    assert above.status_code == 400
    assert above.json() == {"errors": [{"message": "Price exceeds the resale cap", "field": "price"}]}
    assert second.post(base_url + f"/api/tickets/{ticket['id']}/resale", json={"price": 40}).status_code == 401
    resale = first.post(base_url + f"/api/tickets/{ticket['id']}/resale", json={"price": 40})
    assert resale.status_code == 201, resale.text
    listing = resale.json()
    assert (listing["resaleOf"], listing["faceValue"], listing["price"], listing["userId"]) == (ticket["id"], 40, 40, first.user_id)
    again = first.post(base_url + f"/api/tickets/{ticket['id']}/resale", json={"price": 35})
    assert again.json() == {"errors": [{"message": "Ticket is already listed for resale"}]}
    # 404 until the orders service hears of the listing; then its seller is refused.
    # (A requests.Response for an error is falsy, so it travels through `eventually` in a list.)
    own = eventually(lambda: (r := first.post(base_url + "/api/orders", json={"ticketId": listing["id"]})).status_code != 404 and [r])[0]
    assert own.json() == {"errors": [{"message": "Cannot order your own ticket"}]}

    placed = buy(base_url, second, listing["id"])
    complete = eventually(lambda: (o := second.get(base_url + f"/api/orders/{placed['id']}").json())["status"] == "complete" and o)
    assert complete["ticket"]["id"] == listing["id"]
    # Complete is said only after the hand-over: the old pass is already void.
    assert verify(base_url, old["code"]) == {"valid": False, "reason": "resold"}
    assert first.get(base_url + f"/api/tickets/{ticket['id']}/pass").status_code == 401
    assert first.get(base_url + "/api/tickets/held").json() == []
    assert [t["id"] for t in second.get(base_url + "/api/tickets/held").json()] == [listing["id"]]

    new = second.get(base_url + f"/api/tickets/{listing['id']}/pass").json()
    assert new["serial"] == old["serial"] + 1
    assert verify(base_url, new["code"]) == {"valid": True, "ticketId": listing["id"], "title": "Final", "holderId": second.user_id}

    voided = venue.post(base_url + "/api/tickets/checkins", json={"code": old["code"]})
    assert voided.status_code == 400
    assert voided.json() == {"errors": [{"message": "Pass is no longer valid"}]}
    assert first.post(base_url + "/api/tickets/checkins", json={"code": new["code"]}).status_code == 401, "the venue's door"
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: venue.post(base_url + "/api/tickets/checkins", json={"code": new["code"]}), range(10)))
    assert sorted(a.status_code for a in answers) == [201] + [409] * 9
    second_scan = venue.post(base_url + "/api/tickets/checkins", json={"code": new["code"]})
    assert second_scan.status_code == 409
    assert second_scan.json()["errors"][0]["message"].startswith("Already checked in at ")
    refused = second.post(base_url + f"/api/tickets/{listing['id']}/resale", json={"price": 10})
    assert refused.json() == {"errors": [{"message": "Cannot resell a checked-in ticket"}]}


def test_a_withdrawn_listing_is_no_longer_listed_shown_or_orderable(base_url):
    seller, buyer = signed_in(base_url), signed_in(base_url)
    ticket = seller.post(base_url + "/api/tickets", json={"title": "Withdrawn", "price": 12}).json()
    # Ordered and cancelled first, so the orders service knows the ticket and a later 404 is the withdrawal's.
    placed = order(base_url, buyer, ticket["id"])
    assert buyer.delete(base_url + f"/api/orders/{placed['id']}").status_code == 204
    eventually(lambda: "orderId" not in requests.get(base_url + f"/api/tickets/{ticket['id']}").json())
    assert buyer.delete(base_url + f"/api/tickets/{ticket['id']}").status_code == 401
    assert seller.delete(base_url + f"/api/tickets/{ticket['id']}").status_code == 204
    assert requests.get(base_url + f"/api/tickets/{ticket['id']}").status_code == 404
    assert ticket["id"] not in [t["id"] for t in requests.get(base_url + "/api/tickets?limit=1000").json()]
    # Once the orders service hears of it, an order is refused as for a ticket that is not there.
    eventually(lambda: buyer.post(base_url + "/api/orders", json={"ticketId": ticket["id"]}).status_code == 404)
    assert buyer.post(base_url + "/api/orders", json={"ticketId": ticket["id"]}).status_code == 404
