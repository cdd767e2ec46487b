"""Holding and passes through nginx (CONTRACT.md section 7): a paid order's buyer holds the ticket, gets a signed pass
only they can fetch, and a door's check of it says valid; a code with one character changed is not. The issuer
checks a pass in once, however many scans race."""
import concurrent.futures

import requests

from helpers import eventually, signed_in
from test_payments_expiry import pay, reserved_order


def held_ticket(base):
    buyer, ticket, order = reserved_order(base, 30)
    paid = pay(base, buyer, order["id"])
    assert paid.status_code == 201, paid.text
    shown = eventually(lambda: (t := buyer.get(base + f"/api/tickets/{ticket['id']}").json()).get("holderId") and t)
    return buyer, shown


def test_the_buyer_holds_a_paid_ticket_and_its_pass_verifies(base_url):
    buyer, ticket = held_ticket(base_url)
    assert ticket["holderId"] == buyer.user_id
    assert ticket["userId"] != buyer.user_id, "userId stays the seller"
    held = buyer.get(base_url + "/api/tickets/held")
    assert held.status_code == 200
    assert [t["id"] for t in held.json()] == [ticket["id"]]

    pass_ = buyer.get(base_url + f"/api/tickets/{ticket['id']}/pass")
    assert pass_.status_code == 200
    body = pass_.json()
    assert set(body) == {"ticketId", "holderId", "serial", "code"}
    assert (body["ticketId"], body["holderId"], body["serial"]) == (ticket["id"], buyer.user_id, 1)
    stranger = signed_in(base_url).get(base_url + f"/api/tickets/{ticket['id']}/pass")
    assert stranger.status_code == 401

    door = signed_in(base_url)
    verdict = door.post(base_url + "/api/tickets/verify", json={"code": body["code"]})
    assert verdict.status_code == 200
    assert verdict.json() == {"valid": True, "ticketId": ticket["id"], "title": "Show", "holderId": buyer.user_id}

    code = body["code"]
    middle = len(code) // 2
    changed = code[:middle] + ("a" if code[middle] != "a" else "b") + code[middle + 1:]
    refused = door.post(base_url + "/api/tickets/verify", json={"code": changed})
    assert refused.status_code == 200
    assert refused.json() == {"valid": False, "reason": "invalid"}


def test_the_pass_key_is_published_for_offline_checks(base_url):
    key = signed_in(base_url).get(base_url + "/api/tickets/pass-key")
    assert key.status_code == 200
    assert key.json()["alg"] == "Ed25519"
    assert len(key.json()["publicKey"]) == 43


def test_the_issuer_checks_a_pass_in_once_even_when_ten_scans_race(base_url):
    seller, buyer = signed_in(base_url), signed_in(base_url)
    ticket = seller.post(base_url + "/api/tickets", json={"title": "Gig", "price": 15}).json()
    order = eventually(lambda: (r := buyer.post(base_url + "/api/orders", json={"ticketId": ticket["id"]})).status_code == 201 and r.json())
    assert pay(base_url, buyer, order["id"]).status_code == 201
    eventually(lambda: buyer.get(base_url + f"/api/tickets/{ticket['id']}").json().get("holderId") == buyer.user_id)
    code = buyer.get(base_url + f"/api/tickets/{ticket['id']}/pass").json()["code"]

    assert buyer.post(base_url + "/api/tickets/checkins", json={"code": code}).status_code == 401, "only the issuer"
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: seller.post(base_url + "/api/tickets/checkins", json={"code": code}), range(10)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * 9, statuses
    admitted = next(a for a in answers if a.status_code == 201).json()
    assert admitted["ticketId"] == ticket["id"]
    again = seller.post(base_url + "/api/tickets/checkins", json={"code": code})
    assert again.status_code == 409
    assert again.json() == {"errors": [{"message": f"Already checked in at {admitted['checkedInAt']}"}]}
    verdict = requests.post(base_url + "/api/tickets/verify", json={"code": code}).json()
    assert verdict == {"valid": False, "reason": "checked-in"}
