"""Each database service migrates before it serves (migrations): its pods first run `ticketing migrate NAME` in an
initContainer with the service container's image, configuration, secrets, volumes and security context, once per pod
start, and the service container runs `serve NAME` without --migrate. A service without a database has neither. The
services and which of them have a database are the binary's (`ticketing services --json`)."""
from .report import fail

# What the migrations initContainer must share with the service's own container.
SHARED = ("image", "envFrom", "volumeMounts", "securityContext")


def ticketing_words(container):
    """The container's arguments to the ticketing binary: its command and args, less the binary's path when named."""
    words = list(container.get("command") or []) + list(container.get("args") or [])
    if words and (words[0] == "ticketing" or words[0].endswith("/ticketing")):
        words = words[1:]
    return words


def check_migrations(overlay, catalog):
    where = overlay.name
    known = set(catalog.names)
    for workload in overlay.workloads:
        if workload.labels.get("app.kubernetes.io/component") == "service" and workload.name not in known:
            fail("migrations", f"{where}: {workload} is no service of `ticketing services --json`")
    for service in catalog.services:
        name = service.name
        workload = overlay.workload(name)
        if workload is None or workload.obj["kind"] != "Deployment":
            fail("migrations", f"{where}: no Deployment {name}")
            continue
        main = next((c for c in workload.containers if c.get("name") == name), None)
        if main is None:
            fail("migrations", f"{where}: {workload} has no container named {name}")
            continue
        words = ticketing_words(main)
        if words[:2] != ["serve", name]:
            fail("migrations", f"{where}: {workload}: its container does not run `serve {name}` (it runs {words})")
        if "--migrate" in words:
            fail("migrations", f"{where}: {workload}: its container migrates as it serves (--migrate); the initContainer does that")
        inits = workload.spec.get("initContainers") or []
        migrators = [c for c in inits if ticketing_words(c)[:1] == ["migrate"]]
        has_url = any("DATABASE_URL" in workload.env(c) for c in workload.containers)
        if not service.database:
            if migrators:
                fail("migrations", f"{where}: {workload}: has no database, yet an initContainer migrates one")
            if has_url:
                fail("migrations", f"{where}: {workload}: has no database, yet its container is given a DATABASE_URL")
            continue
        if not has_url:
            fail("migrations", f"{where}: {workload}: its container is given no DATABASE_URL, though {name} has a database")
        if len(migrators) != 1 or ticketing_words(migrators[0]) != ["migrate", name]:
            fail("migrations", f"{where}: {workload}: no initContainer runs `/app/ticketing migrate {name}` "
                               f"before serving (its initContainers run {[ticketing_words(c) for c in inits] or 'nothing'})")
            continue
        init = migrators[0]
        if init.get("restartPolicy") == "Always":
            fail("migrations", f"{where}: {workload}: initContainer {init['name']} is a sidecar (restartPolicy: Always), so it "
                               "does not finish before the service starts")
        for key in SHARED:
            if init.get(key) != main.get(key):
                fail("migrations", f"{where}: {workload}: initContainer {init['name']} has another {key} than the container "
                                   f"({init.get(key)!r}, not {main.get(key)!r})")
        if workload.env(init) != workload.env(main):
            fail("migrations", f"{where}: {workload}: initContainer {init['name']} has another environment than the container")
