"""infra/check.py's checks, one module per concern: objects (the manifests as objects), policy (NetworkPolicy
semantics), routing (api-route, visitor-address), nats (nats-auth), lame_duck, network, pod_security, migrations,
tracing (the collector and the services' way to it), and report (the failures)."""
