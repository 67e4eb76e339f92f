"""The state machine of one tenant, free of gRPC, Redis and the wall clock.

It talks to a `Store` port and a `Clock` (ports.py, clock.py): the Redis store in
production, the in-memory store and a manual clock in tests and simulation. `router.py`
holds a tenant's live state and its unit of work; the operations (`interactions`,
`agents`, `transfers`, `pull`, `reports`) and the routing steps (`offers`) build on its
public API; `registry.py` holds every tenant and fires their timers.
"""
