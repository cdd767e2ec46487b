"""The NATS servers' lame-duck mode on shutdown (lame-duck): the preStop hook signals the pid file nats-server writes,
in a writable directory, and the spell ends before the pod is killed."""
import re

from .nats import broker, top_level
from .report import fail


def check_lame_duck(overlay):
    found = broker(overlay)
    if found is None:
        return
    nats, container, _, text = found
    command = " ".join((container.get("lifecycle") or {}).get("preStop", {}).get("exec", {}).get("command", []))
    signalled = re.search(r"(?:--signal|-sl)[= ]ldm=(\S+?)(?:['\";&|]|\s|$)", command)
    pid_file = top_level(text, "pid_file")
    if not signalled:
        fail("lame-duck", f"{overlay.name}: the nats preStop hook does not signal lame-duck mode (--signal ldm=PIDFILE)")
    elif pid_file != signalled.group(1):
        fail("lame-duck", f"{overlay.name}: the preStop hook signals the pid in {signalled.group(1)}, but nats-server "
                          f"writes {'no pid file' if pid_file is None else pid_file} (pid_file)")
    if pid_file:
        directory = pid_file.rsplit("/", 1)[0] + "/"
        volume = nats.mounted_file(container, directory + "x")
        if not (volume and volume[0] and "emptyDir" in volume[0]):
            fail("lame-duck", f"{overlay.name}: nats-server cannot write {pid_file}: {directory} is no writable (emptyDir) volume")

    def seconds(value, default):
        match = re.fullmatch(r"(\d+)s", str(value)) if value is not None else None
        return int(match.group(1)) if match else default

    spell = seconds(top_level(text, "lame_duck_duration"), 120) + seconds(top_level(text, "lame_duck_grace_period"), 10)
    grace = nats.spec.get("terminationGracePeriodSeconds", 30)
    if spell >= grace:
        fail("lame-duck", f"{overlay.name}: lame duck takes {spell} s but the pod is killed after {grace} s")

