"""What the status bar and the Run Log's summary row say about a run, read
from the run model (ui/run_state.py)."""
from __future__ import annotations

from canvas_app.engine.events import NodeFailed, RunError, RunFinished, RunStarted
from canvas_app.ui.formatting import format_seconds
from canvas_app.ui.run_state import NodeDeletedDuringRun, RunRecord, RunStates


def verdict_text(model: RunStates, run: RunRecord, node_id: str) -> str:
    """'identity 0.62 < threshold 0.99' for a node of the open document."""
    return model.get(node_id).likeness_text() if run.attached else "below threshold"


def deleted_text(run: RunRecord, node_id: str) -> str:
    return (f"{run.title(node_id)} deleted from the canvas; run #{run.job_id} keeps the snapshot "
            "it started from and still computes it (Stop, Ctrl+., cancels that run)")


def summary_text(model: RunStates, run: RunRecord) -> str:
    """One line for a finished run: status, time, counts, the first failure
    and every shot below its identity threshold."""
    job_id, status = run.job_id, run.status
    if run.error:
        return f"Run #{job_id} failed: {run.error}" if run.started else \
            f"Cannot run #{job_id}: {run.error}"
    summary = f"Run #{job_id} {status} in {format_seconds(run.elapsed)}"
    if not run.started:
        return summary
    summary += f" ({len(run.executed)} ran, {len(run.cached)} from cache)"
    if run.failures:
        node_id, message = next(iter(run.failures.items()))
        summary += f" — {run.title(node_id)}: {message}"
    if run.below:
        summary += " — below the identity threshold: " + ", ".join(
            f"{run.title(node_id)} ({verdict_text(model, run, node_id)})" for node_id in run.below)
    return summary


def status_line(model: RunStates, job_id: int, event) -> tuple[str, int] | None:
    """(text, milliseconds) for the window's status bar, or None. Runs of a
    document that has since been closed say nothing there."""
    run = model.run(job_id)
    if run is None or not run.attached:
        return None
    if isinstance(event, RunStarted):
        return f"Running #{job_id}: {len(event.plan)} nodes", 3000
    if isinstance(event, NodeFailed):
        return f"{run.title(event.node_id)} failed: {event.message}", 10000
    if isinstance(event, RunError):
        return f"Cannot run: {event.message}", 12000
    if isinstance(event, NodeDeletedDuringRun):
        return deleted_text(run, event.node_id), 10000
    if isinstance(event, RunFinished):
        return summary_text(model, run), 8000
    return None
