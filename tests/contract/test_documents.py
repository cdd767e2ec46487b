"""The API's own description: openapi.yaml is valid OpenAPI 3.1, and asyncapi.yaml names every subject the services
define, with payload schemas that accept the events exactly as the services encode them and refuse what they never
send. The events seen on a real bus are checked against it in tests/blackbox/test_events_contract.py."""
import copy
import pathlib
import re

import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load(name):
    return yaml.safe_load((ROOT / name).read_text())


def payload_validator(asyncapi, channel_address):
    """A JSON Schema validator for the payload of the channel with that address; $refs resolve within the document."""
    channel = next(c for c in asyncapi["channels"].values() if c["address"] == channel_address)
    (message_ref,) = [m["$ref"] for m in channel["messages"].values()]
    message = asyncapi["components"]["messages"][message_ref.rsplit("/", 1)[1]]
    root = copy.deepcopy(asyncapi)
    root["$ref"] = message["payload"]["$ref"]
    jsonschema.Draft202012Validator.check_schema(root)
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker())


def test_openapi_is_a_valid_openapi_3_1_document():
    document = load("openapi.yaml")
    assert document["openapi"].startswith("3.1")
    validate(document)
    paths = set(document["paths"])
    for path in ["/api/users/signup", "/api/users/signin", "/api/users/signout", "/api/users/currentuser",
                 "/api/tickets", "/api/tickets/{id}", "/api/orders", "/api/orders/{id}", "/api/payments"]:
        assert path in paths, path


def test_asyncapi_names_exactly_the_subjects_the_services_define():
    swift = (ROOT / "Sources/TicketingEvents/Contract/Events.swift").read_text()
    enum = swift[swift.index("public enum Subject"):swift.index("}", swift.index("public enum Subject"))]
    defined = set(re.findall(r'case \w+ = "([^"]+)"', enum))
    document = load("asyncapi.yaml")
    assert document["asyncapi"] == "3.0.0"
    assert {c["address"] for c in document["channels"].values()} == defined


ID = "0f8b2c1e-3a4d-4e5f-8a9b-0c1d2e3f4a5b"
# As the services encode them (Event.encoded(): sorted keys), see Tests/TicketingCoreTests/EventTests.swift.
SENT = {
    "ticket:created": {"id": ID, "price": 12.5, "resaleOf": ID, "title": "Concert", "userId": "u1", "version": 0},
    "ticket:updated": {"holderId": "u2", "id": ID, "orderId": ID, "price": 20, "resold": True, "title": "Concert",
                       "userId": "u1", "version": 2, "withdrawn": True},
    "order:created": {"expiresAt": "2026-11-22T10:15:00.000Z", "id": ID, "status": "created",
                      "ticket": {"id": ID, "price": 9.99}, "userId": "u2", "version": 0},
    "order:cancelled": {"id": ID, "ticket": {"id": ID}, "version": 1},
    "expiration:complete": {"orderId": ID},
    "payment:created": {"id": ID, "orderId": ID, "stripeId": "pi_123"},
    "session:revoked": {"expiresAt": "2026-11-29T10:15:00.000Z", "sessionId": "0123456789abcdef0123456789abcdef"},
}


# Fields a payload carries only in some states (while reserved, once held, resold or withdrawn, on a resale).
OPTIONAL = {"orderId", "holderId", "resold", "withdrawn", "resaleOf"}


@pytest.mark.parametrize("subject", sorted(SENT))
def test_each_payload_schema_accepts_what_is_sent_and_refuses_what_is_not(subject):
    validator = payload_validator(load("asyncapi.yaml"), subject)
    event = SENT[subject]
    validator.validate(event)
    assert not validator.is_valid({**event, "extra": 1}), "fields are exactly the contract's"
    for field in event:
        if field not in OPTIONAL:
            assert not validator.is_valid({k: v for k, v in event.items() if k != field}), f"{field} is required"
    if "price" in event:
        assert not validator.is_valid({**event, "price": 9.999})
