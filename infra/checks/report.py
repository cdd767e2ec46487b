"""The failures the checks find, and how they are reported: at most a dozen of each check unless asked for all."""
FAILURES = []


def fail(check, message):
    FAILURES.append(f"{check}: {message}")



def report(show_all):
    """Prints the failures; returns whether there were any."""
    shown = {}
    for failure in dict.fromkeys(FAILURES):
        check = failure.split(":", 1)[0]
        shown[check] = shown.get(check, 0) + 1
        if shown[check] <= 12 or show_all:
            print("infra/check:", failure)
    for check, count in shown.items():
        if count > 12 and not show_all:
            print(f"infra/check: {check}: … and {count - 12} more")
    if FAILURES:
        print("infra/check: failures by check:", ", ".join(f"{check} {count}" for check, count in shown.items()))
    return bool(FAILURES)
