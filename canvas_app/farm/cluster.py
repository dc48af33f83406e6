"""Joining or starting the Ray cluster, and what it holds (for status lines)."""
from __future__ import annotations

import socket
from dataclasses import dataclass

from canvas_app.errors import BadInput

LOCAL = ("ray", "local")  # --farm values that start a cluster on this machine
CONNECT_TIMEOUT_S = 5.0


def require_ray():
    try:
        import ray
    except ImportError:
        from canvas_app.farm import INSTALL_HINT

        raise BadInput(f"the Ray farm needs the 'ray' package, which is not installed; "
                       f"{INSTALL_HINT}", field="--farm") from None
    return ray


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of `ray://HOST:PORT` or `HOST:PORT`; None unless the port is
    1-65535 in ASCII digits (99999 once reached another port) and the host is
    a name or an address a socket can take."""
    scheme, separator, bare = address.partition("://")
    if not separator:
        bare = address
    elif scheme != "ray":
        return None
    host, _, port = bare.rpartition(":")
    host = host.strip("[]")
    if not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        return None
    try:
        host.encode("idna")  # "a..b": an empty label, refused here rather than by socket
    except UnicodeError:
        return None
    return host, int(port)


def connect(address: str) -> bool:
    """Connect this process to a cluster; True if it started one of its own
    (to be shut down with it). Token authentication is left as Ray sets it
    (on for local clusters since Ray 2.59): a local cluster makes its own
    token; joining a cluster started with RAY_AUTH_MODE=token needs the same
    setting here and the token (RAY_AUTH_TOKEN or ~/.ray/auth_token)."""
    ray = require_ray()
    if address not in LOCAL and address != "auto":
        target = _host_port(address)
        if target is None:
            raise BadInput(f"{address[:200]!r} is not a Ray address; use ray, auto, "
                           "ray://HOST:PORT or HOST:PORT (port 1-65535)", field="--farm")
        try:  # fail fast and clearly instead of Ray's long reconnect loop
            socket.create_connection(target, timeout=CONNECT_TIMEOUT_S).close()
        except (OSError, UnicodeError) as error:
            raise BadInput(f"cannot reach the Ray cluster at {address} "
                           f"({error.strerror or error})", field="--farm") from None
    if ray.is_initialized():
        return False  # already connected (the editor's second run, tests)
    if address in LOCAL:
        # Sized to the machine: Ray counts CPUs and GPUs itself. No dashboard.
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        return True
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    except Exception as error:  # ConnectionError, auth failures, version mismatch
        raise BadInput(f"cannot join the Ray cluster at {address}: {error}",
                       field="--farm") from None
    return False


@dataclass(frozen=True)
class FarmStatus:
    address: str
    workers: int  # alive nodes
    cpus: float
    gpus: float
    busy_cpus: float
    busy_gpus: float

    @property
    def line(self) -> str:
        gpus = f", {self.busy_gpus:g}/{self.gpus:g} GPUs busy" if self.gpus else ", no GPU"
        return (f"farm {self.address}: {self.workers} worker{'s' if self.workers != 1 else ''}, "
                f"{self.busy_cpus:g}/{self.cpus:g} CPUs busy{gpus}")


def status(address: str) -> FarmStatus:
    """What the connected cluster holds now."""
    import ray

    total, free = ray.cluster_resources(), ray.available_resources()
    workers = sum(1 for node in ray.nodes() if node.get("Alive"))
    return FarmStatus(address, workers, total.get("CPU", 0.0), total.get("GPU", 0.0),
                      total.get("CPU", 0.0) - free.get("CPU", 0.0),
                      total.get("GPU", 0.0) - free.get("GPU", 0.0))
