"""The services as the binary lists them (`ticketing services --json`): the one source of their names, start order,
default ports, route prefixes, databases and event subjects. infra/generate.py and infra/check.py read it here.

The binary is $TICKETING_BIN when that is set (the path of the ticketing executable); otherwise this builds it with
`swift build --product ticketing` in the repository and takes `<swift build --show-bin-path>/ticketing`.
Standard library only."""
import json
import os
import pathlib
import subprocess
import sys
from dataclasses import dataclass

REPOSITORY = pathlib.Path(__file__).resolve().parent.parent
CATCH_ALL = "/"


class CatalogError(Exception):
    pass


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    routes: tuple
    database: bool
    publishes: tuple
    consumes: tuple


@dataclass(frozen=True)
class Catalog:
    services: tuple  # of Service, in start order

    @property
    def names(self):
        return [s.name for s in self.services]

    @property
    def database_services(self):
        return [s.name for s in self.services if s.database]

    @property
    def routes(self):
        """{service: [path prefix, ...]} for the services the front door routes to, in start order."""
        return {s.name: list(s.routes) for s in self.services if s.routes}

    @property
    def api_services(self):
        """The services with a route of their own, not only the catch-all (the internal door routes to these)."""
        return [s.name for s in self.services if any(r != CATCH_ALL for r in s.routes)]

    @property
    def nats_services(self):
        """The services with a broker account: those that publish or consume events."""
        return [s.name for s in self.services if s.publishes or s.consumes]

    @property
    def publishes(self):
        return {s.name: list(s.publishes) for s in self.services if s.name in self.nats_services}


def binary():
    """The path of the ticketing executable: $TICKETING_BIN, else a fresh debug build's."""
    path = os.environ.get("TICKETING_BIN")
    if path:
        return path
    print("infra: TICKETING_BIN is not set; building ticketing (swift build --product ticketing)", file=sys.stderr)
    try:
        subprocess.run(["swift", "build", "--product", "ticketing"], cwd=REPOSITORY, check=True, stdout=sys.stderr)
        bin_dir = subprocess.run(["swift", "build", "--show-bin-path"], cwd=REPOSITORY, check=True,
                                 capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as error:
        raise CatalogError(f"could not build the ticketing binary ({error}); set TICKETING_BIN to a built one") \
            from error
    return str(pathlib.Path(bin_dir) / "ticketing")


def load(path=None):
    """Runs `ticketing services --json` and returns its Catalog; CatalogError says why it could not."""
    path = path or binary()
    command = f"{path} services --json"
    try:
        result = subprocess.run([path, "services", "--json"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        raise CatalogError(f"cannot run `{command}`: {error} (TICKETING_BIN names the ticketing executable)") from error
    if result.returncode != 0:
        raise CatalogError(f"`{command}` exited with status {result.returncode}: {result.stderr.strip()}")
    try:
        document = json.loads(result.stdout)
    except ValueError as error:
        raise CatalogError(f"`{command}` printed no JSON ({error}): {result.stdout[:200]!r}") from error
    return parse(document, command)


def parse(document, source="the services list"):
    def wrong(message):
        raise CatalogError(f"{source}: {message}")

    entries = document.get("services") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        wrong('expected {"services": [...]} with at least one service')
    services, owners = [], {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            wrong(f"a service without a name: {entry!r}")
        name = entry["name"]
        if name in (s.name for s in services):
            wrong(f"{name} is listed twice")
        if not isinstance(entry.get("port"), int) or isinstance(entry.get("port"), bool):
            wrong(f"{name}: port must be an integer")
        if not isinstance(entry.get("database"), bool):
            wrong(f"{name}: database must be true or false")
        for key in ("routes", "publishes", "consumes"):
            if not isinstance(entry.get(key), list) or not all(isinstance(v, str) and v for v in entry[key]):
                wrong(f"{name}: {key} must be a list of strings")
        for route in entry["routes"]:
            if not route.startswith("/") or (route != CATCH_ALL and route.endswith("/")):
                wrong(f"{name}: route {route!r} must start with / and not end with one (or be / itself)")
            if route in owners:
                wrong(f"{route} is routed to both {owners[route]} and {name}")
            owners[route] = name
        services.append(Service(name, entry["port"], tuple(entry["routes"]), entry["database"],
                                tuple(entry["publishes"]), tuple(entry["consumes"])))
    return Catalog(tuple(services))


def load_or_exit(program):
    try:
        return load()
    except CatalogError as error:
        print(f"{program}: {error}", file=sys.stderr)
        sys.exit(2)
