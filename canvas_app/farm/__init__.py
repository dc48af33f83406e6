"""The render farm: shots of one project rendered in parallel on a Ray cluster.

Nothing here imports ray at module level except the modules that only the
farm uses (remote.py, dispatcher.py), so the editor and `canvas-app run`
without `--farm` never load it.
"""
from __future__ import annotations

INSTALL_HINT = 'install the farm extra: pip install "canvas-app[farm]" (or pip install "ray>=2.60")'


def ray_dispatcher(address: str = "ray", **options):
    """A dispatcher on the cluster at `address`: "ray" starts a local one,
    "auto" finds a running one, "ray://HOST:PORT" or "HOST:PORT" joins one.
    Raises BadInput (exit 2) when ray is missing or the cluster cannot be reached."""
    from canvas_app.farm.cluster import require_ray

    require_ray()
    from canvas_app.farm.dispatcher import RayDispatcher

    return RayDispatcher(address, **options)
