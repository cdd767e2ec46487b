"""One reservation is one trace across the services and the bus, exported over OTLP to scripts/trace-sink (which
scripts/test starts and points the stack at), and its trace id and request id are in the services' log lines."""
import json
import os
import re
import secrets

import pytest

from helpers import eventually, signed_in
from hostile import form_token, list_ticket, reserved

LOGS = os.path.join(os.environ.get("TICKETING_DATA_DIR", ""), "logs")


@pytest.fixture(autouse=True)
def trace_file():
    assert os.environ.get("TRACE_FILE"), "run with the stack exporting to scripts/trace-sink, as scripts/test does"


def traceparent():
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


def spans_of(trace_id):
    with open(os.environ["TRACE_FILE"]) as lines:
        return [span for span in map(json.loads, lines) if span["traceId"] == trace_id]


def trace_with(trace_id, wanted):
    """The trace's spans once every (service, name) in `wanted` is among them."""
    def complete():
        spans = spans_of(trace_id)
        present = {(span["service"], span["name"]) for span in spans}
        return spans if wanted <= present else None
    try:
        return eventually(complete, timeout=15)
    except AssertionError:
        present = sorted({(span["service"], span["name"]) for span in spans_of(trace_id)})
        raise AssertionError(f"trace {trace_id} lacks {sorted(wanted - set(present))}; it has {present}")


def one(spans, service, name):
    found = [span for span in spans if span["service"] == service and span["name"] == name]
    assert len(found) == 1, f"{len(found)} spans {name!r} in {service}"
    return found[0]


def log_lines(service, needle):
    with open(os.path.join(LOGS, f"{service}.log")) as log:
        return [line for line in log if needle in line]


def test_a_reservation_is_one_trace_through_the_outbox_the_bus_and_every_consumer(base_url):
    seller, buyer = signed_in(base_url), signed_in(base_url)
    ticket = list_ticket(seller, price=12)
    # Known before the orders service has heard of the ticket: reserve once it has, then trace that reservation.
    reserved(signed_in(base_url), list_ticket(seller)["id"])
    trace_id, caller, header = traceparent()
    buyer.headers["traceparent"] = header
    order = reserved(buyer, ticket["id"])
    del buyer.headers["traceparent"]

    spans = trace_with(trace_id, {
        ("ticketing-orders", "POST /api/orders"),
        ("ticketing-orders", "record order:created"),
        ("ticketing-orders", "publish order:created"),
        ("ticketing-tickets", "process order:created"),
        ("ticketing-tickets", "publish ticket:updated"),
        ("ticketing-expiration", "process order:created"),
        ("ticketing-payments", "process order:created"),
        ("ticketing-orders", "process ticket:updated"),
    })
    by_id = {span["spanId"]: span for span in spans}

    def chain(span):
        """The span's ancestors' (service, name), nearest first, up to the caller's span."""
        names = []
        while span["parentSpanId"] in by_id:
            span = by_id[span["parentSpanId"]]
            names.append((span["service"], span["name"]))
        assert span["parentSpanId"] == caller, f"{span['name']} does not continue the caller's span"
        return names

    request = one(spans, "ticketing-orders", "POST /api/orders")
    assert request["kind"] == "server" and request["attributes"]["http.response.status_code"] == 201
    published = one(spans, "ticketing-orders", "publish order:created")
    assert published["kind"] == "producer"
    # Reservations that arrive together are written in one transaction; each event still records in its request's trace.
    assert chain(published)[0] == ("ticketing-orders", "record order:created")
    assert ("ticketing-orders", "POST /api/orders") in chain(published)
    for consumer in ("ticketing-tickets", "ticketing-expiration", "ticketing-payments"):
        processed = one(spans, consumer, "process order:created")
        assert processed["kind"] == "consumer"
        assert processed["parentSpanId"] == published["spanId"], f"{consumer} continues the publication's span"
        assert processed["attributes"]["messaging.message.id"]
    # The ticket service's answer comes back to orders in the same trace: orders → bus → tickets → bus → orders.
    back = one(spans, "ticketing-orders", "process ticket:updated")
    assert chain(back)[:2] == [("ticketing-tickets", "publish ticket:updated"), ("ticketing-tickets", "record ticket:updated")]
    assert {("ticketing-tickets", "transaction"), ("ticketing-tickets", "process order:created")} <= set(chain(back))

    # The orders service's log line of the request carries the trace id, and the order it made is the one traced.
    assert order["status"] == "created"
    lines = log_lines("orders", trace_id)
    assert lines, "the orders log names the trace"
    assert all(f"trace_id={trace_id}" in line or f'"trace_id":"{trace_id}"' in line for line in lines)


def test_the_web_and_the_service_it_calls_share_one_trace_and_one_request_id(base_url):
    seller, buyer = signed_in(base_url), signed_in(base_url)
    ticket = list_ticket(seller, price=9)
    reserved(signed_in(base_url), list_ticket(seller)["id"])
    trace_id, _, header = traceparent()
    token = form_token(buyer, f"/tickets/{ticket['id']}")
    response = buyer.post(base_url + f"/tickets/{ticket['id']}/purchase", data={"_csrf": token},
                          headers={"traceparent": header}, allow_redirects=False)
    assert response.status_code == 303 and "/orders/" in response.headers["Location"], response.text
    request_id = response.headers["X-Request-Id"]
    assert re.fullmatch(r"[A-Za-z0-9-]{16,64}", request_id)

    spans = trace_with(trace_id, {
        ("ticketing-web", "POST /tickets/:id/purchase"), ("ticketing-web", "POST"), ("ticketing-orders", "POST /api/orders"),
    })
    page = one(spans, "ticketing-web", "POST /tickets/:id/purchase")
    call = one(spans, "ticketing-web", "POST")
    served = one(spans, "ticketing-orders", "POST /api/orders")
    assert call["kind"] == "client" and call["parentSpanId"] == page["spanId"]
    assert served["parentSpanId"] == call["spanId"], "the orders service continues the web's client span"

    # One id for the visit from the front door through the internal door, and the trace beside it in both logs.
    for service in ("web", "orders"):
        lines = log_lines(service, request_id)
        assert lines, f"the {service} log names request {request_id}"
        assert any(trace_id in line for line in lines), f"the {service} log line of the request names its trace"
