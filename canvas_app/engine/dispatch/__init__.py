"""Dispatchers: where the executor's ready nodes run.

`local` (the default) runs them in this process; `canvas_app.farm` adds a Ray
dispatcher that runs shots on a cluster. The executor keeps everything else
(keys, caches, events, failure and skip rules) the same for both.
"""
from canvas_app.engine.dispatch.base import Dispatcher, Job, Outcome, RemoteError, run_node
from canvas_app.engine.dispatch.local import LocalDispatcher

__all__ = ["Dispatcher", "Job", "LocalDispatcher", "Outcome", "RemoteError", "run_node"]
