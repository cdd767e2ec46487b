"""The operators' console (`ticketing dead-letters`) against the running stack, as a person runs it on the host or in
a pod: it finds the service's database the way the service does (TICKETING_DATA_DIR here). A poisoned event, an
order for a ticket the tickets service does not have, is parked by the service, then listed, shown, replayed (it
fails again and stays), refused a discard without --yes, and discarded."""
import asyncio
import json
import os
import subprocess
import uuid

from helpers import eventually


def ticketing(*arguments):
    binary = os.environ.get("TICKETING_BIN")
    assert binary, "scripts/test exports TICKETING_BIN, the stack's ticketing binary"
    return subprocess.run([binary, *arguments], capture_output=True, text=True, timeout=60)


def publish(subject, event_id, payload):
    import nats

    async def send():
        connection = await nats.connect(os.environ["NATS_URL"])
        stream = connection.jetstream()
        await stream.publish(subject, json.dumps(payload).encode(), headers={"Nats-Msg-Id": event_id})
        await connection.drain()

    asyncio.run(send())


def parked(service):
    answer = ticketing("dead-letters", "list", "--service", service, "--json")
    assert answer.returncode == 0, answer.stderr
    return {letter["event_id"]: letter for letter in json.loads(answer.stdout)}


def test_a_parked_event_is_listed_shown_replayed_and_discarded(base_url):
    event_id, order_id = str(uuid.uuid4()), str(uuid.uuid4())
    publish("order:created", event_id, {"id": order_id, "version": 0, "status": "created", "userId": "console-test",
                                        "expiresAt": "2030-01-01T00:00:00.000Z",
                                        "ticket": {"id": str(uuid.uuid4()), "price": 5}})
    # Five failed tries with a backoff from 0.2 s: parked within seconds.
    letter = eventually(lambda: parked("tickets").get(event_id), timeout=30)
    assert letter["subject"] == "order:created"
    assert letter["entity"] == f"order {order_id}"
    assert "no ticket" in letter["error"]

    shown = ticketing("dead-letters", "show", "--service", "tickets", event_id, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(json.loads(shown.stdout)["payload"])["id"] == order_id
    text = ticketing("dead-letters", "show", "--service", "tickets", event_id)
    assert f"entity order {order_id}" in text.stdout

    replayed = ticketing("dead-letters", "replay", "--service", "tickets", event_id, "--json")
    assert replayed.returncode == 1, "a replay that fails again says so in its exit status"
    assert [(r["eventId"], r["outcome"]) for r in json.loads(replayed.stdout)] == [(event_id, "failed")]
    assert event_id in parked("tickets"), "and leaves it parked"

    refused = ticketing("dead-letters", "discard", "--service", "tickets", event_id)
    assert refused.returncode != 0
    assert "--yes" in refused.stderr
    discarded = ticketing("dead-letters", "discard", "--service", "tickets", event_id, "--yes")
    assert discarded.returncode == 0, discarded.stderr
    assert event_id not in parked("tickets")
    assert ticketing("dead-letters", "replay", "--service", "tickets", event_id).returncode != 0, "gone"


def test_the_console_refuses_bad_input_in_one_line_and_has_help(base_url):
    for arguments, reason in [
        (["dead-letters", "list", "--service", "web"], "web has no database"),
        (["dead-letters", "list", "--service", "nope"], "nope"),
        (["dead-letters", "replay", "--service", "orders"], "--all"),
        (["dead-letters", "show", "--service", "orders", "no-such-event"], "no parked event no-such-event"),
    ]:
        answer = ticketing(*arguments)
        assert answer.returncode != 0, arguments
        assert reason in answer.stderr, (arguments, answer.stderr)
    for command in ["list", "show", "replay", "discard"]:
        helped = ticketing("dead-letters", command, "--help")
        assert helped.returncode == 0 and "--service" in helped.stdout, command
    assert ticketing("dead-letters", "replay", "--service", "orders", "--all").returncode == 0, "nothing parked: nothing to do"


def test_lag_shows_every_durable_consumer_and_each_services_outbox(base_url):
    answer = ticketing("events", "lag", "--json")
    assert answer.returncode == 0, answer.stderr
    report = json.loads(answer.stdout)
    assert {"orders-service_ticket-created", "tickets-service_order-created", "expiration-service_order-created",
            "payments-service_order-cancelled"} <= set(report["consumers"]), report
    for state in report["consumers"].values():
        assert set(state) == {"pending", "waitingForAck", "redelivered"}
    assert set(report["outboxes"]) == {"auth", "tickets", "orders", "expiration", "payments"}
    # Eventually every committed event is published: no service keeps a backlog on a quiet stack.
    eventually(lambda: all(o["pending"] == 0 for o in json.loads(ticketing("events", "lag", "--json").stdout)["outboxes"].values()))
    text = ticketing("events", "lag", "--service", "orders")
    assert text.returncode == 0 and "orders-service_ticket-created" in text.stdout and "\norders\t0\t0" in text.stdout, text.stdout
    assert ticketing("events", "lag", "--service", "web").returncode != 0
    assert ticketing("events", "lag", "--help").returncode == 0


def test_tail_and_history_read_the_stream_in_order(base_url):
    import requests
    from helpers import signed_in

    seller, buyer = signed_in(base_url), signed_in(base_url)
    ticket = seller.post(base_url + "/api/tickets", json={"title": "Traced", "price": 7}).json()
    order = eventually(lambda: (r := buyer.post(base_url + "/api/orders", json={"ticketId": ticket["id"]})).status_code == 201 and r.json())
    eventually(lambda: requests.get(base_url + f"/api/tickets/{ticket['id']}").json().get("orderId") == order["id"])

    tail = ticketing("events", "tail", "--subject", "ticket:created", "--since", "5m", "--json")
    assert tail.returncode == 0, tail.stderr
    events = [json.loads(line) for line in tail.stdout.splitlines()]
    assert all(e["subject"] == "ticket:created" for e in events)
    assert ticket["id"] in [e["data"]["id"] for e in events]
    assert [e["sequence"] for e in events] == sorted(e["sequence"] for e in events), "in stream order"

    history = ticketing("events", "history", ticket["id"], "--json")
    assert history.returncode == 0, history.stderr
    about = [json.loads(line) for line in history.stdout.splitlines()]
    assert [e["subject"] for e in about][:3] == ["ticket:created", "order:created", "ticket:updated"], about
    assert about[2]["data"]["orderId"] == order["id"] and about[2]["data"]["version"] == 1
    assert all(e["time"] and e["id"] for e in about)
    text = ticketing("events", "history", order["id"])
    assert text.returncode == 0 and "order:created" in text.stdout and "expiration:complete" not in text.stdout.split("order:created")[0]

    for arguments, reason in [(["events", "tail", "--since", "soon"], "--since"), (["events", "tail", "--subject", "nope"], "no subject nope"),
                              (["events", "history", "not an id!"], "letters, digits and hyphens")]:
        refused = ticketing(*arguments)
        assert refused.returncode != 0 and reason in refused.stderr, (arguments, refused.stderr)
    assert ticketing("events", "tail", "--help").returncode == 0 and ticketing("events", "history", "--help").returncode == 0
