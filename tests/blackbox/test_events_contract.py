"""Every event on the real bus during whole orders' lives (listing, reservation, payment, an expiry, a sign-out)
matches asyncapi.yaml: each message is read off nats-server as the services publish it and validated against the
schema of its subject, with its Nats-Msg-Id header."""
import asyncio
import os
import pathlib
import sys
import re
import threading
import time

from helpers import eventually, signed_in

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "contract"))
from test_documents import load, payload_validator  # noqa: E402

WINDOW = int(os.environ.get("EXPIRATION_WINDOW_SECONDS", "900"))


class BusRecorder:
    """Subscribes (plain NATS, which sees every JetStream publish) to each AsyncAPI channel in a thread of its own."""

    def __init__(self, url, subjects):
        self.url, self.subjects, self.seen = url, subjects, []
        self.ready, self.stop = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self.run()), daemon=True)

    async def run(self):
        import nats

        connection = await nats.connect(self.url)
        for subject in self.subjects:
            await connection.subscribe(subject, cb=self.record)
        await connection.flush()
        self.ready.set()
        while not self.stop.is_set():
            await asyncio.sleep(0.05)
        await connection.drain()

    async def record(self, message):
        self.seen.append((message.subject, dict(message.headers or {}), message.data))

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(10), "could not subscribe to the bus"
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)

    def subjects_seen(self):
        return {subject for subject, _, _ in self.seen}


def test_every_event_of_an_orders_life_matches_asyncapi(base_url):
    import json

    assert WINDOW <= 15, "run the stack with a short EXPIRATION_WINDOW_SECONDS"
    document = load("asyncapi.yaml")
    subjects = sorted(c["address"] for c in document["channels"].values())
    validators = {subject: payload_validator(document, subject) for subject in subjects}
    with BusRecorder(os.environ["NATS_URL"].split(",")[0], subjects) as bus:
        seller, buyer = signed_in(base_url), signed_in(base_url)
        paid = seller.post(base_url + "/api/tickets", json={"title": "Gala", "price": 40.25}).json()
        lapsed = seller.post(base_url + "/api/tickets", json={"title": "Matinee", "price": 15}).json()
        assert seller.put(base_url + f"/api/tickets/{paid['id']}", json={"title": "Gala night", "price": 41.5}).status_code == 200

        def reserve(ticket):
            response = buyer.post(base_url + "/api/orders", json={"ticketId": ticket["id"]})
            return response.json() if response.status_code == 201 else None

        order = eventually(lambda: reserve(paid))
        eventually(lambda: reserve(lapsed))
        payment = eventually(lambda: (lambda r: r if r.status_code != 404 else None)(
            buyer.post(base_url + "/api/payments", json={"token": "pm_card_visa", "orderId": order["id"]})))
        assert payment.status_code == 201, payment.text
        assert seller.post(base_url + "/api/users/signout").status_code == 200
        # The unpaid order expires: expiration:complete, then order:cancelled and the ticket's release.
        eventually(lambda: set(subjects) <= bus.subjects_seen(), timeout=WINDOW + 10)
        time.sleep(0.5)

    assert bus.subjects_seen() == set(subjects), f"not seen: {set(subjects) - bus.subjects_seen()}"
    for subject, headers, data in bus.seen:
        validators[subject].validate(json.loads(data))
        # A relay that publishes again after a crash sends the same id (the stream drops the repeat), so ids are
        # checked for shape, not for uniqueness here.
        assert re.fullmatch(r"[0-9a-fA-F-]{36}", headers.get("Nats-Msg-Id", "")), f"{subject}: {headers}"
