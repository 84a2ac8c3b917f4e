"""The RLC Trial Platform's test kit (development only; no service image ships it).

``rlc_testkit.plugin`` is the pytest plugin every test in the repository uses (real databases,
keys and tokens, a local S3 server, live service processes); ``rlc_testkit.recruitment`` drives the
recruitment service through its API to build test data.
"""

from rlc_testkit.plugin import (
    AllocationSigner,
    Keys,
    LiveService,
    S3Server,
    api_routes,
    free_port,
    service_env,
    start_service,
    wait_http,
    wipe,
)

__all__ = [
    "AllocationSigner",
    "Keys",
    "LiveService",
    "S3Server",
    "api_routes",
    "free_port",
    "service_env",
    "start_service",
    "wait_http",
    "wipe",
]
