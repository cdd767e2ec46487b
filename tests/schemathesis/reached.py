"""What a schemathesis run must have reached, read from its HAR report: python reached.py OPENAPI HAR.

A run whose requests were all refused (a broken link, a session that stopped working, a limit hit) still passes
every check, so it is the answers that show the chains went through: each step of sign up -> sell -> reserve -> pay
-> show answered with success at least once. Every operation's answers are printed."""
import collections
import json
import re
import sys
from urllib.parse import urlsplit

import yaml

CHAIN = ["signUp", "createTicket", "createOrder", "createPayment", "getOrder"]


def main(openapi_path, har_path):
    document = yaml.safe_load(open(openapi_path))
    operations = {}
    for path, item in document["paths"].items():
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                operations[operation["operationId"]] = (method.upper(), pattern)

    answered = collections.Counter()
    for entry in json.load(open(har_path))["log"]["entries"]:
        method, path = entry["request"]["method"], urlsplit(entry["request"]["url"]).path
        status = entry["response"]["status"]
        # A literal path (/api/tickets/held) is its own operation, not a value of another's parameter.
        for name, (operation_method, pattern) in sorted(operations.items(), key=lambda item: item[1][1].pattern.count("[^/]+")):
            if method == operation_method and pattern.match(path):
                answered[name, status] += 1
                break
    successes = {name: sum(n for (op, status), n in answered.items() if op == name and 200 <= status < 300)
                 for name in operations}
    for name in sorted(operations):
        statuses = ", ".join(f"{status}: {n}" for (op, status), n in sorted(answered.items()) if op == name)
        print(f"reached: {name:16} {statuses}")
    missing = [name for name in CHAIN if successes[name] == 0]
    if missing:
        sys.exit(f"reached: no successful answer from {', '.join(missing)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
