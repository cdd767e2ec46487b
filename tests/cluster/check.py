"""After a chaos run: checks every guarantee from the services' databases and APIs, and prints the figures.
Usage: check.py REQUESTS.jsonl KILLS.jsonl BASE_URL (PGPORT and PSQL in the environment). Exits 1 if a check fails."""
import collections
import json
import os
import subprocess
import sys

import requests

requests_log, kills_log, base = sys.argv[1:4]
failures = []


def check(condition, message):
    print(("ok    " if condition else "FAIL  ") + message)
    if not condition:
        failures.append(message)


def query(database, sql):
    output = subprocess.run(
        [os.environ["PSQL"], "-At", "-F", "\t", "-h", "127.0.0.1", "-p", os.environ["PGPORT"], "-U", "ticketing", "-d", database, "-c", sql],
        check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in output.splitlines() if line]


orders = {row[0]: {"ticket": row[1], "status": row[2], "version": int(row[3])}
          for row in query("orders", "SELECT id, ticket_id, status, version FROM orders")}
tickets = {row[0]: {"order": row[1] or None, "version": int(row[2]), "title": row[3], "cents": row[4]}
           for row in query("tickets", "SELECT id, order_id, version, title, price_cents FROM tickets")}
ticket_replica = {row[0]: {"version": int(row[1]), "title": row[2], "cents": row[3]}
                  for row in query("orders", "SELECT id, version, title, price_cents FROM tickets")}
order_replica = {row[0]: {"status": row[1], "version": int(row[2])} for row in query("payments", "SELECT id, status, version FROM orders")}
paid = {row[0] for row in query("payments", "SELECT order_id FROM payments")}
entries = [json.loads(line) for line in open(requests_log)]
kills = [json.loads(line) for line in open(kills_log)] if os.path.exists(kills_log) else []

print(f"cluster check: {len(tickets)} tickets, {len(orders)} orders, {len(paid)} payments")
by_ticket = collections.defaultdict(list)
for order_id, order in orders.items():
    by_ticket[order["ticket"]].append(order)
check(all(sum(o["status"] != "cancelled" for o in os_) <= 1 for os_ in by_ticket.values()), "no ticket has two active orders")
check(not any(o["status"] in ("created", "awaiting:payment") for o in orders.values()), "no order is still open after the expiry window")
complete = {i for i, o in orders.items() if o["status"] == "complete"}
check(all(tickets.get(orders[i]["ticket"], {}).get("order") == i for i in complete), "every paid order's ticket is reserved by it")
check(all(t["order"] in complete for t in tickets.values() if t["order"]), "every reserved ticket is held by a paid order")
check(complete <= paid, "every complete order has a payment")
check(all(orders.get(i, {}).get("status") == "complete" for i in paid), "every payment completed its order")
check(all(o["version"] == 1 for o in orders.values()), "every order changed exactly once (version 1): no event applied twice")
check(all(t["version"] == 2 * sum(o["status"] == "cancelled" for o in by_ticket[i]) + sum(o["status"] == "complete" for o in by_ticket[i])
          for i, t in tickets.items()), "every ticket's version counts its reservations and releases exactly")
check(all(ticket_replica.get(i) == {"version": t["version"], "title": t["title"], "cents": t["cents"]} for i, t in tickets.items()),
      "the orders service's ticket replica equals the tickets service's tickets")
check(all(i in order_replica and (order_replica[i]["status"] == "cancelled") == (o["status"] == "cancelled") for i, o in orders.items()),
      "the payments service's order replica has every order, cancelled exactly where the source is")
for database in ("auth", "tickets", "orders", "expiration", "payments"):
    tables = {row[0] for row in query(database, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    if "outbox" in tables:
        check(query(database, "SELECT count(*) FROM outbox") == [["0"]], f"{database}: outbox empty")
    if "dead_letters" in tables:
        check(query(database, "SELECT count(*) FROM dead_letters") == [["0"]], f"{database}: no dead letters")

outcomes = collections.Counter(e["status"] for e in entries if e["kind"] == "outcome")
claimed = {e["order"]: e["status"] for e in entries if e["kind"] == "outcome"}
check(all(orders.get(o, {}).get("status") == "complete" for o, s in claimed.items() if s == "paid"), "every 201 payment left its order complete")
check(all(orders.get(o, {}).get("status") == "cancelled" for o, s in claimed.items() if s in ("cancelled", "left_to_expire")),
      "every cancelled or abandoned order ended cancelled")
check(all(e["status"] <= 1 for e in entries if e["kind"] == "race"), "no race had two winners")
calls = [e for e in entries if e["kind"] not in ("race", "outcome")]
unclean = [e for e in calls if not e["clean"]]
check(not unclean, f"every request got a success or a clean error ({len(unclean)} did not)")
for example in unclean[:5]:
    print("      ", example)
print(f"requests: {len(calls)}; by status: " + ", ".join(f"{k} {v}" for k, v in sorted(collections.Counter(str(e['status']) for e in calls).items())))
print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
for kill in kills:
    window = [e for e in calls if kill["at"] <= e["at"] <= kill["at"] + 30]
    failed = [e for e in window if e["status"] in (502, 503, 504, "exception")]
    recovery = (max(e["at"] for e in failed) - kill["at"]) if failed else 0.0
    print(f"kill {kill['target']}: {len(failed)} requests answered 503 in the next 30 s; last one {recovery:.1f} s after the kill")

# The APIs agree with the databases: a sample of paid orders' tickets shows their order.
for order_id in list(complete)[:5]:
    ticket = requests.get(f"{base}/api/tickets/{orders[order_id]['ticket']}", timeout=10).json()
    check(ticket.get("orderId") == order_id, f"GET /api/tickets shows ticket {ticket.get('id')} held by its paid order")
print(f"{len(failures)} failed" if failures else "cluster check: every guarantee held")
sys.exit(1 if failures else 0)
