"""The stack's Prometheus (scripts/dev, scripts/test start it): it scrapes every service, the backlog gauges are there
with their names as the alert rules use them, and the rules are loaded with nothing firing on a healthy stack."""
import os

import requests

from helpers import eventually


def prometheus():
    url = os.environ.get("PROMETHEUS_URL")
    assert url, "run the stack with stack_prometheus (scripts/test does), which exports PROMETHEUS_URL"
    return url


def query(expression):
    answer = requests.get(prometheus() + "/api/v1/query", params={"query": expression}, timeout=10).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def test_every_service_is_scraped_with_the_gauges_the_alerts_use(base_url):
    jobs = {"auth", "tickets", "orders", "expiration", "payments", "web"}
    eventually(lambda: {r["metric"]["job"] for r in query("up == 1")} == jobs, timeout=30)
    with_events = jobs - {"web"}
    eventually(lambda: {r["metric"]["job"] for r in query("outbox_pending_events")} == with_events, timeout=30)
    assert {r["metric"]["job"] for r in query("outbox_oldest_event_age_seconds")} == with_events
    # One durable consumer per queue group and subject (ConsumerConfiguration.durableName), from the broker itself.
    consumers = {(r["metric"]["job"], r["metric"]["consumer"]) for r in query("consumer_pending_events")}
    assert {("orders", "orders-service_ticket-created"), ("tickets", "tickets-service_order-created"),
            ("expiration", "expiration-service_order-created"), ("payments", "payments-service_order-cancelled")} <= consumers, consumers
    assert {r["metric"]["subject"] for r in query('dead_letters{job="tickets"}')} >= {"order:created", "payment:created"}
    assert {r["metric"]["__name__"] for r in query('{job="payments", __name__=~"refunds_pending|charges_unsettled"}')} == {
        "refunds_pending", "charges_unsettled"}


def test_the_alert_rules_are_loaded(base_url):
    groups = requests.get(prometheus() + "/api/v1/rules", timeout=10).json()["data"]["groups"]
    names = {rule["name"] for group in groups for rule in group["rules"]}
    assert {"OutboxEventOld", "DeadLetter", "RefundsPending", "ServiceDown", "ServerErrors"} <= names, names
    firing = [a for a in requests.get(prometheus() + "/api/v1/alerts", timeout=10).json()["data"]["alerts"] if a["state"] == "firing"]
    assert firing == [], firing
