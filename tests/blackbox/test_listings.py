"""A seller's own listings through nginx (GET /api/tickets/listed): every state but withdrawn, newest first, paged,
and nobody else's."""
import requests

from helpers import eventually
from hostile import account, is_envelope, json_or_none, list_ticket, reserved
from test_payments_expiry import pay


def test_a_seller_sees_each_listing_on_sale_reserved_or_sold_newest_first_and_paged(base_url):
    seller, buyer = account(base_url), account(base_url)
    on_sale, reserved_one, sold, withdrawn = (list_ticket(seller, price=price) for price in (10, 20, 30, 40))
    reserved(buyer, reserved_one["id"])
    paid = pay(base_url, buyer, reserved(buyer, sold["id"])["id"])
    assert paid.status_code == 201, paid.text
    assert seller.delete(base_url + f"/api/tickets/{withdrawn['id']}").status_code == 204

    def states():
        listed = seller.get(base_url + "/api/tickets/listed")
        assert listed.status_code == 200, listed.text
        return [(t["id"], "holderId" in t, "orderId" in t) for t in listed.json()]
    expected = [(sold["id"], True, True), (reserved_one["id"], False, True), (on_sale["id"], False, False)]
    assert eventually(lambda: states() == expected), states()

    first = seller.get(base_url + "/api/tickets/listed?limit=2")
    assert [t["id"] for t in first.json()] == [sold["id"], reserved_one["id"]]
    link = first.headers["Link"]
    assert link == f'</api/tickets/listed?limit=2&after={reserved_one["id"]}>; rel="next"', link
    rest = seller.get(base_url + link.split(">")[0].lstrip("<"))
    assert [t["id"] for t in rest.json()] == [on_sale["id"]] and "Link" not in rest.headers

    assert buyer.get(base_url + "/api/tickets/listed").json() == [], "the buyer listed nothing"
    # Another seller's ticket is no place to continue from: it would tell whether that id exists.
    other = buyer.get(base_url + f"/api/tickets/listed?after={on_sale['id']}")
    assert other.status_code == 400 and is_envelope(json_or_none(other), field="after"), other.text
    for query, field in (("limit=0", "limit"), ("after=not-an-id", "after")):
        bad = seller.get(base_url + "/api/tickets/listed?" + query)
        assert bad.status_code == 400 and is_envelope(json_or_none(bad), field=field), f"?{query}: {bad.text}"
    assert requests.get(base_url + "/api/tickets/listed").status_code == 401
