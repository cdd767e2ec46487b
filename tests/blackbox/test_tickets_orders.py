"""Tickets and orders through nginx and a real nats-server: the reservation travels between services as events."""
import uuid

import requests

from helpers import eventually, signed_in


def test_reserve_see_the_reservation_cancel_and_see_the_ticket_listed_again(base_url):
    seller, buyer = signed_in(base_url), signed_in(base_url)
    created = seller.post(base_url + "/api/tickets", json={"title": "Concert", "price": 20})
    assert created.status_code == 201
    ticket = created.json()
    assert ticket["version"] == 0 and ticket["userId"] == seller.user_id and "orderId" not in ticket

    listed = lambda: any(t["id"] == ticket["id"] for t in requests.get(base_url + "/api/tickets?limit=1000").json())
    assert eventually(listed)

    # The orders service learns of the ticket from ticket:created.
    def reserve():
        response = buyer.post(base_url + "/api/orders", json={"ticketId": ticket["id"]})
        return response if response.status_code == 201 else None

    order = eventually(reserve).json()
    assert order["status"] == "created" and order["ticket"]["id"] == ticket["id"] and order["ticket"]["price"] == 20

    # order:created reaches the tickets service, which reserves the ticket and hides it from the listing.
    reserved = eventually(lambda: requests.get(base_url + f"/api/tickets/{ticket['id']}").json().get("orderId") == order["id"])
    assert reserved
    assert not listed()
    edit = seller.put(base_url + f"/api/tickets/{ticket['id']}", json={"title": "Changed", "price": 30})
    assert edit.status_code == 400 and edit.json() == {"errors": [{"message": "Cannot edit a reserved ticket"}]}
    second = signed_in(base_url).post(base_url + "/api/orders", json={"ticketId": ticket["id"]})
    assert second.status_code == 400 and second.json() == {"errors": [{"message": "Ticket is already reserved"}]}

    assert buyer.delete(base_url + f"/api/orders/{order['id']}").status_code == 204
    assert buyer.get(base_url + f"/api/orders/{order['id']}").json()["status"] == "cancelled"
    assert eventually(listed), "order:cancelled frees the ticket"
    freed = requests.get(base_url + f"/api/tickets/{ticket['id']}").json()
    assert "orderId" not in freed and freed["version"] == 2

    # The seller can edit again, and the orders service's replica follows the new version.
    assert seller.put(base_url + f"/api/tickets/{ticket['id']}", json={"title": "Changed", "price": 30}).status_code == 200
    def reserve_changed():
        response = reserve()
        if response is None:
            return None
        if response.json()["ticket"]["title"] != "Changed":
            # Reserved before the edit's ticket:updated arrived; let it go and try again.
            buyer.delete(base_url + f"/api/orders/{response.json()['id']}")
            eventually(listed)
            return None
        return response

    again = eventually(reserve_changed).json()
    assert again["ticket"]["title"] == "Changed" and again["ticket"]["price"] == 30


def test_orders_and_tickets_answer_the_contracts_errors(base_url):
    anonymous = requests.Session()
    assert anonymous.post(base_url + "/api/tickets", json={"title": "x", "price": 1}).status_code == 401
    assert anonymous.get(base_url + "/api/orders").status_code == 401
    user = signed_in(base_url)
    assert user.post(base_url + "/api/orders", json={}).json() == {
        "errors": [{"message": "TicketId must be provided", "field": "ticketId"}]
    }
    assert user.post(base_url + "/api/orders", json={"ticketId": str(uuid.uuid4())}).status_code == 404
    assert user.get(base_url + "/api/tickets/not-an-id").status_code == 404
    bad = user.post(base_url + "/api/tickets", json={"title": "", "price": 0})
    assert bad.status_code == 400 and [e["field"] for e in bad.json()["errors"]] == ["title", "price"]


def test_only_one_of_many_simultaneous_reservations_wins(base_url):
    from concurrent.futures import ThreadPoolExecutor

    seller = signed_in(base_url)
    ticket = seller.post(base_url + "/api/tickets", json={"title": "Hot", "price": 99}).json()
    buyers = [signed_in(base_url) for _ in range(20)]
    # Let ticket:created reach the orders service: a probe reservation (not the seller's: sellers cannot order their
    # own tickets) succeeds, and is cancelled again.
    prober = signed_in(base_url)
    probe = eventually(lambda: (lambda r: r if r.status_code == 201 else None)(
        prober.post(base_url + "/api/orders", json={"ticketId": ticket["id"]})))
    assert prober.delete(base_url + f"/api/orders/{probe.json()['id']}").status_code == 204
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda b: b.post(base_url + "/api/orders", json={"ticketId": ticket["id"]}).status_code, buyers))
    assert statuses.count(201) == 1, statuses
    assert statuses.count(400) == 19, statuses
