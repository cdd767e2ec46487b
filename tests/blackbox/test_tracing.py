"""One reservation is one trace across the services and the bus, exported over OTLP to scripts/trace-sink (which
scripts/test starts and points the stack at). A test finds its trace as an operator would: the front door's
X-Request-Id names the service's log line of the request, and that line names the trace."""
import json
import os
import re
import secrets

import pytest
import requests

from helpers import eventually, signed_in
from hostile import form_token, list_ticket, reserved

LOGS = os.path.join(os.environ.get("TICKETING_DATA_DIR", ""), "logs")


@pytest.fixture(autouse=True)
def trace_file():
    assert os.environ.get("TRACE_FILE"), "run with the stack exporting to scripts/trace-sink, as scripts/test does"


def outside_traceparent():
    """A visitor's trace context, sampled: the front door must not let it choose the trace."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def logged_ids(service, request_id):
    """(trace_id, span_id) of the service's first log line of the request."""
    def logged():
        for line in log_lines(service, request_id):
            trace, span = re.search(r'trace_id[=":]+([0-9a-f]{32})', line), re.search(r'span_id[=":]+([0-9a-f]{16})', line)
            if trace and span:
                return trace.group(1), span.group(1)
    return eventually(logged, timeout=5)


def trace_of(service, request_id):
    return logged_ids(service, request_id)[0]


def spans_of(trace_id):
    # The sink may be mid-write: a last line without its newline is not a span yet.
    with open(os.environ["TRACE_FILE"]) as lines:
        spans = [json.loads(line) for line in lines if line.endswith("\n")]
    return [span for span in spans if span["traceId"] == trace_id]


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
    # The orders service learns of tickets in stream order: once it has one listed after this one, it has this one, and
    # the reservation traced is a single request (not one retried while the ticket was unknown).
    reserved(signed_in(base_url), list_ticket(seller)["id"])
    visitor = outside_traceparent()
    response = buyer.post(base_url + "/api/orders", json={"ticketId": ticket["id"]}, headers={"traceparent": visitor})
    assert response.status_code == 201, response.text
    trace_id, logged_span = logged_ids("orders", response.headers["X-Request-Id"])
    assert trace_id not in visitor, "the front door starts the trace"

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
        """The span's ancestors' (service, name), nearest first, up to the trace's root."""
        names = []
        while span["parentSpanId"] in by_id:
            span = by_id[span["parentSpanId"]]
            names.append((span["service"], span["name"]))
        assert span["parentSpanId"] == "", f"{span['name']} descends from a span outside the trace"
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

    assert request["attributes"]["url.path"] == "/api/orders"
    assert logged_span == request["spanId"], "the request's log line names the request's span"


def test_the_web_and_the_service_it_calls_share_one_trace_and_one_request_id(base_url):
    seller, buyer = signed_in(base_url), signed_in(base_url)
    ticket = list_ticket(seller, price=9)
    reserved(signed_in(base_url), list_ticket(seller)["id"])
    token = form_token(buyer, f"/tickets/{ticket['id']}")
    response = buyer.post(base_url + f"/tickets/{ticket['id']}/purchase", data={"_csrf": token}, allow_redirects=False)
    assert response.status_code == 303 and "/orders/" in response.headers["Location"], response.text
    request_id = response.headers["X-Request-Id"]
    assert re.fullmatch(r"[A-Za-z0-9-]{16,64}", request_id)
    trace_id = trace_of("web", request_id)

    spans = trace_with(trace_id, {
        ("ticketing-web", "POST /tickets/:id/purchase"), ("ticketing-web", "POST"), ("ticketing-orders", "POST /api/orders"),
    })
    page = one(spans, "ticketing-web", "POST /tickets/:id/purchase")
    call = one(spans, "ticketing-web", "POST")
    served = one(spans, "ticketing-orders", "POST /api/orders")
    assert call["kind"] == "client" and call["parentSpanId"] == page["spanId"]
    assert served["parentSpanId"] == call["spanId"], "the orders service continues the web's client span"

    # One id for the visit from the front door through the internal door: the orders service's line of the web's
    # call names the same request and the same trace.
    assert trace_of("orders", request_id) == trace_id


def test_a_payment_is_one_trace_through_the_calls_to_stripe_and_the_event_that_completes_the_order(base_url):
    seller, buyer = signed_in(base_url), signed_in(base_url)
    order = reserved(buyer, list_ticket(seller, price=15)["id"])
    # The payments service learns of the order from order:created; until then a payment is refused.
    def paid():
        response = buyer.post(base_url + "/api/payments", json={"token": "pm_card_visa", "orderId": order["id"]})
        return response if response.status_code == 201 else None
    response = eventually(paid)
    trace_id, _ = logged_ids("payments", response.headers["X-Request-Id"])

    spans = trace_with(trace_id, {
        ("ticketing-payments", "POST /api/payments"), ("ticketing-payments", "POST"),
        ("ticketing-payments", "publish payment:created"), ("ticketing-orders", "process payment:created"),
    })
    request = one(spans, "ticketing-payments", "POST /api/payments")
    calls = [span for span in spans if span["service"] == "ticketing-payments" and span["kind"] == "client"]
    assert calls, "the calls to Stripe are client spans"
    by_id = {span["spanId"]: span for span in spans}
    for call in calls:
        parent = call
        while parent["parentSpanId"] in by_id and parent["spanId"] != request["spanId"]:
            parent = by_id[parent["parentSpanId"]]
        assert parent["spanId"] == request["spanId"], f"{call['name']} to Stripe is within the payment's request"
    completed = one(spans, "ticketing-orders", "process payment:created")
    assert by_id[completed["parentSpanId"]]["name"] == "publish payment:created"


@pytest.mark.parametrize("value", [
    "garbage", "00-" + "0" * 32 + "-" + "0" * 16 + "-01", "ff-" + "a" * 32 + "-" + "b" * 16 + "-01",
    "00-" + "g" * 32 + "-" + "b" * 16 + "-01", "00-" + "a" * 4000, "",
])
def test_a_malformed_trace_context_on_an_internal_call_is_ignored(value):
    """The internal door passes trace headers on; a service given a bad one starts a trace of its own and answers."""
    port = os.environ["STACK_PORT_tickets"].split()[0]
    response = requests.get(f"http://127.0.0.1:{port}/api/tickets?limit=1",
                            headers={"traceparent": value, "tracestate": value, "X-Request-Id": "malformed-" + secrets.token_hex(8)})
    assert response.status_code == 200, response.text
    trace_id = trace_of("tickets", response.headers["X-Request-Id"])
    assert trace_id != "0" * 32 and trace_id not in value
