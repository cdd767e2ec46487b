"""A realistic load on the running cluster for a bounded time: sellers list tickets, buyers race for each one, and the
winner pays, cancels or lets the order expire; people browse the web front end's pages meanwhile. Every request and
its outcome is written as a JSON line, for check.py to judge. Only loopback addresses are used; it stops by itself,
after SECONDS or, sooner, once STOP_FILE exists (the caller's phases decide how long the load is needed).
Usage: chaos.py BASE_URL SECONDS OUT [STOP_FILE]."""
import json
import os
import random
import sys
import threading
import time
import uuid

import requests

BASE, SECONDS, OUT = sys.argv[1], float(sys.argv[2]), sys.argv[3]
STOP_FILE = sys.argv[4] if len(sys.argv) > 4 else None
WORKERS = 6
lock = threading.Lock()
log = open(OUT, "w")


def record(kind, status, clean, **extra):
    with lock:
        log.write(json.dumps({"at": time.time(), "kind": kind, "status": status, "clean": clean, **extra}) + "\n")


def call(session, kind, method, path, **kwargs):
    """One request; a response is clean when it is a success or the contract's error envelope."""
    try:
        response = session.request(method, BASE + path, timeout=30, **kwargs)
    except requests.RequestException as error:
        record(kind, "exception", False, error=type(error).__name__)
        return None
    clean = response.status_code < 400
    if not clean:
        try:
            body = response.json()
            clean = isinstance(body.get("errors"), list) and all("message" in e for e in body["errors"])
        except ValueError:
            clean = False
    # A 5xx says who answered it: a service echoes the request id, nginx's own error pages do not.
    failed = {"body": response.text[:200], "from": "service" if "X-Request-Id" in response.headers else "nginx"}
    record(kind, response.status_code, clean, **({} if clean and response.status_code < 500 else failed))
    return response


def page(session, path):
    """One page of the web front end; an error is clean when it is one of the site's pages (the web's own, or nginx's
    in the site's look), never a bare proxy error or a broken connection."""
    try:
        response = session.get(BASE + path, timeout=30)
    except requests.RequestException as error:
        record("page", "exception", False, error=type(error).__name__)
        return
    html = response.headers.get("Content-Type", "").startswith("text/html")
    clean = html and (response.status_code < 400 or b" Ticketing</title>" in response.content)
    record("page", response.status_code, clean, **({} if clean else {"body": response.text[:200]}))


def running(stop_at):
    return time.time() < stop_at and not (STOP_FILE and os.path.exists(STOP_FILE))


def user():
    session = requests.Session()
    while True:
        email = f"chaos-{uuid.uuid4().hex[:12]}@example.com"
        response = call(session, "signup", "POST", "/api/users/signup", json={"email": email, "password": "secret"})
        if response is not None and response.status_code == 201:
            session.user_id, session.email = response.json()["id"], email
            return session
        time.sleep(0.2)


def until(deadline, attempt):
    """Retries `attempt` (events may still be travelling, a replica may be restarting) until it says done."""
    while time.time() < deadline:
        result = attempt()
        if result is not None:
            return result
        time.sleep(0.1)
    return None


def worker(stop_at, seed):
    rng = random.Random(seed)
    seller, buyers = user(), [user() for _ in range(3)]
    while running(stop_at):
        created = call(seller, "create_ticket", "POST", "/api/tickets",
                       json={"title": f"Show {uuid.uuid4().hex[:6]}", "price": rng.choice([10, 25.5, 99.99])})
        if created is None or created.status_code != 201:
            time.sleep(0.2)
            continue
        ticket = created.json()["id"]
        # The buyers race; the orders service may not know the ticket yet (404) for a moment.
        winners = []

        def race(buyer):
            def attempt():
                response = call(buyer, "order", "POST", "/api/orders", json={"ticketId": ticket})
                if response is None or response.status_code in (404, 503):
                    return None
                return response
            response = until(time.time() + 10, attempt)
            if response is not None and response.status_code == 201:
                with lock:
                    winners.append((buyer, response.json()["id"]))
        racers = [threading.Thread(target=race, args=(b,)) for b in buyers]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        record("race", len(winners), len(winners) <= 1, ticket=ticket)
        page(buyers[0], f"/tickets/{ticket}")
        if not winners:
            continue
        buyer, order = winners[0]
        choice = rng.random()
        if choice < 0.5:
            def pay():
                response = call(buyer, "pay", "POST", "/api/payments", json={"token": "pm_card_visa", "orderId": order})
                return None if response is None or response.status_code in (404, 503) else response
            response = until(time.time() + 10, pay)
            record("outcome", "paid" if response is not None and response.status_code == 201 else "pay_failed", True, order=order)
        elif choice < 0.8:
            def cancel():
                response = call(buyer, "cancel", "DELETE", f"/api/orders/{order}")
                return None if response is None or response.status_code == 503 else response
            response = until(time.time() + 10, cancel)
            record("outcome", "cancelled" if response is not None and response.status_code == 204 else "cancel_failed", True, order=order)
        else:
            record("outcome", "left_to_expire", True, order=order)
        call(requests, "list", "GET", "/api/tickets?limit=50")
        page(requests, "/")
        call(buyer, "currentuser", "GET", "/api/users/currentuser")
        # Now and then someone signs in again (rarely: a password check is deliberately slow).
        if rng.random() < 0.1:
            call(buyer, "signin", "POST", "/api/users/signin", json={"email": buyer.email, "password": "secret"})


stop = time.time() + SECONDS
threads = [threading.Thread(target=worker, args=(stop, seed)) for seed in range(WORKERS)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
log.close()
