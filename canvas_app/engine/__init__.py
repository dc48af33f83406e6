"""The executor: plan, cache, run, events. No Qt import."""
from canvas_app.engine.cache import ResultCache
from canvas_app.engine.context import CancelToken, Cancelled, RunContext
from canvas_app.engine.executor import Executor, RunResult
from canvas_app.engine.plan import check_runnable, plan, sink_ids

__all__ = ["CancelToken", "Cancelled", "Executor", "ResultCache", "RunContext", "RunResult",
           "check_runnable", "plan", "sink_ids"]
