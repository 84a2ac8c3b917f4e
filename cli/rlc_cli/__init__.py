"""The RLC Trial Platform command line: the launcher, the service registry, the dev token issuer
and the demo trial. Depends on every service; no service depends on it."""
