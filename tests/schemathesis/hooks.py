"""Sessions for schemathesis's requests, as the people of the marketplace would hold them.

schemathesis drops the cookies a response sets before its next request, and a seller may not buy their own ticket,
so one cookie for every call cannot walk sign up -> sell -> reserve -> pay -> show. Instead:
- listing a ticket and reading one's own listings use the session of the account this worker signed up or in last
  (the `session` cookie of its latest successful sign-up or sign-in), as a browser would; before any, a seller
  account made for the run;
- editing or withdrawing a ticket uses the session that listed it, when this run listed it;
- reserving, paying, reading orders and the tickets it holds, their passes, reselling them and check-ins use a buyer
  account made for the run;
- sign-up, sign-in and sign-out get no session of ours, so a fuzzed sign-out never ends the accounts above.
A case whose cookie schemathesis removed or mangled on purpose (negative testing of the security scheme) keeps it.
"""
import json
import os
import threading
import time
import uuid
from http.cookies import SimpleCookie

import requests
import schemathesis

BASE_URL = os.environ["TICKETING_URL"]
BUYING = {"createOrder", "listOrders", "getOrder", "cancelOrder", "createPayment", "getCurrentUser",
          "listHeldTickets", "getPass", "resellTicket", "checkIn"}

latest = threading.local()
sellers = {}  # ticket id -> the session that listed it
sellers_lock = threading.Lock()


def operation_id(case):
    return case.operation.definition.raw.get("operationId")


def sign_up(role):
    email = f"schemathesis-{role}-{uuid.uuid4().hex[:12]}@example.com"
    response = requests.post(f"{BASE_URL}/api/users/signup", json={"email": email, "password": "fuzzing"}, timeout=10)
    response.raise_for_status()
    return response.cookies["session"]


def session_set_by(response):
    for name, values in response.headers.items():
        for value in values if name.lower() == "set-cookie" else ():
            cookie = SimpleCookie(value)
            if "session" in cookie and cookie["session"].value:
                return cookie["session"].value
    return None


# A 401 is an answer under test here (someone else's order, a mangled cookie), not a sign to sign up again.
@schemathesis.auth(refresh_interval=24 * 3600, retry_on=[])
class MarketplaceSessions:
    def get(self, case, context):
        return {"seller": sign_up("seller"), "buyer": sign_up("buyer")}

    def set(self, case, data, context):
        operation = operation_id(case)
        if operation in {"createTicket", "listOwnListings"}:
            session = getattr(latest, "session", None) or data["seller"]
        elif operation in {"updateTicket", "withdrawTicket"}:
            with sellers_lock:
                session = sellers.get(str((case.path_parameters or {}).get("id")))
            session = session or getattr(latest, "session", None) or data["seller"]
        elif operation in BUYING:
            session = data["buyer"]
        else:
            return
        case.cookies = {**(case.cookies or {}), "session": session}


@schemathesis.hook
def before_call(context, case, kwargs):
    # A payment with the test card is the chain's (the PayForTheOrder link, or an example): give the order a moment
    # to reach the payments service's replica, as a person on the order page does, so it is paid, not a 404.
    if operation_id(case) == "createPayment" and isinstance(case.body, dict) and case.body.get("token") == "pm_card_visa":
        time.sleep(0.2)


@schemathesis.hook
def after_call(context, case, response):
    operation = operation_id(case)
    if operation in {"signUp", "signIn"} and response.status_code in (200, 201):
        latest.session = session_set_by(response) or getattr(latest, "session", None)
    elif operation in {"createTicket", "resellTicket"} and response.status_code == 201:
        with sellers_lock:
            sellers[json.loads(response.content)["id"]] = (case.cookies or {}).get("session")
