"""The parts of the deployment infra/generate.py writes, one module per kind of thing: settings (the fixed facts),
objects and network (the pieces), services, databases, nats, door, namespace, overlays, tree (which file holds what)
and readme (the README's table of services)."""
