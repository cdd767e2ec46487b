"""After a chaos run: checks every guarantee from the services' databases and APIs, and prints the figures.
Usage: check.py REQUESTS.jsonl KILLS.jsonl BASE_URL [ROLLING.jsonl] (PGPORT, PSQL and SERVICES, the services the run
started, in the environment). Exits 1
if a check fails. ROLLING.jsonl has a line per replica restarted with SIGTERM in the rolling-restart phase.

Events a killed consumer had taken come back only after the ack wait, so the database checks are repeated until
they all hold or two minutes have passed; only the last round counts."""
import collections
import json
import os
import subprocess
import sys
import time

import requests

requests_log, kills_log, base = sys.argv[1:4]
rolling_log = sys.argv[4] if len(sys.argv) > 4 else None
SERVICES = tuple(os.environ["SERVICES"].split())
# Which service answers each kind of request chaos.py sends (the expiration service answers none: events only).
SERVICE_OF = {"signup": "auth", "signin": "auth", "currentuser": "auth", "create_ticket": "tickets", "list": "tickets", "order": "orders", "cancel": "orders",
              "pay": "payments", "page": "web"}


def query(database, sql):
    output = subprocess.run(
        [os.environ["PSQL"], "-At", "-F", "\t", "-h", "127.0.0.1", "-p", os.environ["PGPORT"], "-U", "ticketing", "-d", database, "-c", sql],
        check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in output.splitlines() if line]


def snapshot():
    return {
        "orders": {r[0]: {"ticket": r[1], "status": r[2], "version": int(r[3]), "user": r[4]}
                   for r in query("orders", "SELECT id, ticket_id, status, version, user_id FROM orders")},
        "tickets": {r[0]: {"order": r[1] or None, "version": int(r[2]), "title": r[3], "cents": r[4], "holder": r[5] or None}
                    for r in query("tickets", "SELECT id, order_id, version, title, price_cents, holder_id FROM tickets")},
        "ticket_replica": {r[0]: {"version": int(r[1]), "title": r[2], "cents": r[3]}
                           for r in query("orders", "SELECT id, version, title, price_cents FROM tickets")},
        "order_replica": {r[0]: r[1] for r in query("payments", "SELECT id, status FROM orders")},
        "paid": {r[0] for r in query("payments", "SELECT order_id FROM payments")},
        "refunded": {r[0] for r in query("payments", "SELECT order_id FROM refund_queue WHERE refund_id IS NOT NULL")},
        "outboxes": {db: query(db, "SELECT count(*) FROM outbox")[0][0] for db in ("tickets", "orders", "expiration", "payments")},
        "dead": {db: query(db, "SELECT count(*) FROM dead_letters")[0][0] for db in ("tickets", "orders", "expiration", "payments")},
    }


def checks(s, claimed):
    orders, tickets = s["orders"], s["tickets"]
    by_ticket = collections.defaultdict(list)
    for order in orders.values():
        by_ticket[order["ticket"]].append(order)
    complete = {i for i, o in orders.items() if o["status"] == "complete"}
    cancelled = {i for i, o in orders.items() if o["status"] == "cancelled"}
    yield all(sum(o["status"] != "cancelled" for o in group) <= 1 for group in by_ticket.values()), "no ticket has two active orders"
    yield not any(o["status"] in ("created", "awaiting:payment") for o in orders.values()), "no order is still open after the expiry window"
    yield all(tickets.get(orders[i]["ticket"], {}).get("order") == i for i in complete), "every paid order's ticket is reserved by it"
    yield all(t["order"] in complete for t in tickets.values() if t["order"]), "every reserved ticket is held by a paid order"
    yield complete <= s["paid"], "every complete order has a payment"
    yield s["paid"] - complete == s["refunded"] and s["refunded"] <= cancelled, \
        "every payment completed its order, or its order had expired first and the payment was refunded"
    yield all(o["version"] == 1 for o in orders.values()), "every order changed exactly once (version 1): no event applied twice"
    # A reservation and its release, or a reservation and the hand-over to its paying buyer: two versions each; an
    # order paid after its expiry may also have been handed over before its release arrived: one more.
    yield all(0 <= t["version"] - 2 * sum(o["status"] in ("cancelled", "complete") for o in by_ticket[i])
              <= sum(o_id in s["refunded"] for o_id, o in orders.items() if o["ticket"] == i)
              for i, t in tickets.items()), "every ticket's version counts its reservations, releases and hand-overs exactly"
    yield all(tickets.get(orders[i]["ticket"], {}).get("holder") == orders[i]["user"] for i in complete), \
        "every paid order's buyer holds its ticket"
    yield all(t["holder"] is None or t["order"] in complete for t in tickets.values()), "only a paid order's ticket has a holder"
    yield all(s["ticket_replica"].get(i) == {"version": t["version"], "title": t["title"], "cents": t["cents"]} for i, t in tickets.items()), \
        "the orders service's ticket replica equals the tickets service's tickets"
    yield all((s["order_replica"].get(i) == "cancelled") == (i in cancelled) and i in s["order_replica"] for i in orders), \
        "the payments service's order replica has every order, cancelled exactly where the source is"
    yield all(count == "0" for count in s["outboxes"].values()), f"every outbox is empty {s['outboxes']}"
    yield all(count == "0" for count in s["dead"].values()), f"no event was dead-lettered {s['dead']}"
    yield all(o in complete or o in s["refunded"] for o, outcome in claimed.items() if outcome == "paid"), \
        "every order paid with a 201 is complete (or, expired first, refunded)"
    yield all(o in cancelled for o, outcome in claimed.items() if outcome in ("cancelled", "left_to_expire")), \
        "every cancelled or abandoned order ended cancelled"


entries = [json.loads(line) for line in open(requests_log)]
kills = [json.loads(line) for line in open(kills_log)] if os.path.exists(kills_log) else []
restarts = [json.loads(line) for line in open(rolling_log)] if rolling_log and os.path.exists(rolling_log) else []
claimed = {e["order"]: e["status"] for e in entries if e["kind"] == "outcome"}
deadline = time.time() + 120
while True:
    state = snapshot()
    results = list(checks(state, claimed))
    if all(ok for ok, _ in results) or time.time() > deadline:
        break
    time.sleep(5)

calls = [e for e in entries if e["kind"] not in ("race", "outcome")]
unclean = [e for e in calls if not e["clean"]]
results.append((all(e["status"] <= 1 for e in entries if e["kind"] == "race"), "no race for a ticket had two winners"))
results.append((not unclean, f"every request got a success or a clean error ({len(unclean)} did not)"))
if rolling_log:
    stopped = [r for r in restarts if r["status"] != 0]
    expected = {f"{service}-{replica}" for service in SERVICES for replica in (1, 2)}
    results.append((sorted(r["target"] for r in restarts) == sorted(expected) and not stopped,
                    f"every replica of every service was restarted with TERM and exited by itself, status 0 "
                    f"({len(restarts)} restarted{', not: ' + ', '.join(r['target'] + ' ' + str(r['status']) for r in stopped) if stopped else ''})"))
    during = [e for e in calls if restarts and restarts[0]["term"] <= e["at"] <= restarts[-1]["settled"]]
    results.append((bool(during) and all(e["clean"] for e in during),
                    f"every request during the rolling restart got a success or a clean error "
                    f"({len(during)} requests, {sum(not e['clean'] for e in during)} did not)"))
complete = {i for i, o in state["orders"].items() if o["status"] == "complete"}
for order_id in sorted(complete)[:5]:
    ticket = requests.get(f"{base}/api/tickets/{state['orders'][order_id]['ticket']}", timeout=10).json()
    results.append((ticket.get("orderId") == order_id, f"GET /api/tickets/{ticket.get('id')} shows the ticket held by its paid order"))

print(f"cluster check: {len(state['tickets'])} tickets, {len(state['orders'])} orders, {len(state['paid'])} payments, "
      f"{len(state['refunded'])} refunded (paid after their expiry)")
for ok, message in results:
    print(("ok    " if ok else "FAIL  ") + message)
for example in unclean[:5]:
    print("      ", example)
print(f"requests: {len(calls)}; by status: " + ", ".join(f"{k} {v}" for k, v in sorted(collections.Counter(str(e['status']) for e in calls).items())))
print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(collections.Counter(claimed.values()).items())))
# Each failed request is put down to the latest kill before it, up to the rolling restart.
rolling_start = restarts[0]["term"] if restarts else float("inf")
for index, kill in enumerate(kills):
    until = kills[index + 1]["at"] if index + 1 < len(kills) else rolling_start
    failed = [e for e in calls if kill["at"] <= e["at"] < until and e["status"] in (502, 503, 504, "exception")]
    last = (max(e["at"] for e in failed) - kill["at"]) if failed else 0.0
    print(f"kill {kill['target']}: {len(failed)} requests answered 503 before the next kill, the last {last:.1f} s after this one")


def outcomes(group):
    """Successes, clean errors by status, unclean answers: a rollout's requests in one line."""
    ok = sum(e["clean"] and isinstance(e["status"], int) and e["status"] < 400 for e in group)
    errors = collections.Counter(str(e["status"]) for e in group if e["clean"] and not (isinstance(e["status"], int) and e["status"] < 400))
    text = f"{len(group)} requests: {ok} succeeded"
    text += ", clean errors " + " ".join(f"{k}x{v}" for k, v in sorted(errors.items())) if errors else ", no errors"
    return text + f", {sum(not e['clean'] for e in group)} unclean"


if restarts:
    print(f"rolling restart: {len(restarts)} replicas, one at a time with TERM, in {restarts[-1]['settled'] - restarts[0]['term']:.1f} s; "
          f"{outcomes([e for e in calls if restarts[0]['term'] <= e['at'] <= restarts[-1]['settled']])}")
    for service in dict.fromkeys(r["service"] for r in restarts):
        mine = [r for r in restarts if r["service"] == service]
        window = [e for e in calls if mine[0]["term"] <= e["at"] <= mine[-1]["settled"]]
        print(f"  {service}: " + "; ".join(f"{r['target']} exited {r['exited'] - r['term']:.1f} s after TERM (status {r['status']}), "
                                          f"ready {r['ready'] - r['exited']:.1f} s after start" for r in mine))
        print(f"  {'':{len(service)}}  meanwhile {outcomes(window)}; of them to {service}: "
              f"{outcomes([e for e in window if SERVICE_OF.get(e['kind']) == service])}")
    # A 5xx in a rollout, put down to the latest TERM before it: which request, answered by whom, how long after.
    for e in (e for e in calls if restarts[0]["term"] <= e["at"] <= restarts[-1]["settled"] and str(e["status"])[0] in "5e"):
        latest = max((r for r in restarts if r["term"] <= e["at"]), key=lambda r: r["term"])
        print(f"  {e['kind']} {e['status']} from {e.get('from', '?')} {e['at'] - latest['term']:.2f} s after TERM of {latest['target']}: "
              f"{e.get('body', e.get('error', ''))[:100]}")
failed = [message for ok, message in results if not ok]
print(f"{len(failed)} failed" if failed else "cluster check: every guarantee held")
sys.exit(1 if failed else 0)
