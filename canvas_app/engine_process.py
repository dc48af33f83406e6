"""Entry point of the engine process: `python -m canvas_app.engine_process FD`.

It sits above the engine and the farm (as the CLI does) because it puts the
two together: with CANVAS_APP_FARM set (the editor's "Render on" a Ray
cluster) nodes run on the farm's dispatcher, otherwise in this process.
The work itself is `canvas_app.engine.child_process.child_main`."""
from __future__ import annotations

import multiprocessing.connection
import os
import sys


def farm_dispatcher(address: str):
    """A callable that connects to the Ray cluster at `address` (CanvasError
    with the reason when it cannot)."""
    def make():
        from canvas_app.errors import CanvasError
        from canvas_app.farm import ray_dispatcher

        try:
            return ray_dispatcher(address)
        except CanvasError as error:
            raise CanvasError(f"Render on {address}: {error.args[0] if error.args else error}") \
                from None
    return make


def main() -> None:
    from canvas_app.engine.child_process import child_main

    target = sys.argv[1]
    if target.isdigit():  # POSIX: an inherited socket
        conn = multiprocessing.connection.Connection(int(target))
    else:  # Windows: a named pipe and a one-time key
        conn = multiprocessing.connection.Client(
            target, authkey=bytes.fromhex(os.environ["CANVAS_APP_ENGINE_KEY"]))
    cache = os.environ.get("CANVAS_APP_ENGINE_DISK_CACHE")
    farm = os.environ.get("CANVAS_APP_FARM", "")
    child_main(conn, None if cache is None else ("" if cache == "-" else cache),
               farm_dispatcher(farm) if farm else None)


if __name__ == "__main__":
    main()
