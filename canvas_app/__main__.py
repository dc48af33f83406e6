"""`python -m canvas_app` and the `canvas-app` command.

A Ctrl-C while Python is still importing the program (a second or more on a
busy machine) must end quietly with exit 130, like one a moment later. Python's
own handler raises KeyboardInterrupt wherever the import happens to be, which
prints a traceback, so a handler that just exits is installed first thing,
before any import of ours; `main` hands SIGINT back to KeyboardInterrupt once
the program is loaded and each command can clean up after itself.
"""
import os
import signal
import sys


def _cancelled_while_starting(_signum, _frame):
    os.write(2, b"canvas-app: cancelled\n")
    os._exit(130)  # nothing has been written yet: nothing to clean up


def entry() -> int:
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # e.g. started with nohup
    if not ignored:
        signal.signal(signal.SIGINT, _cancelled_while_starting)
    from canvas_app.cli import main

    if not ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return main()


if __name__ == "__main__":
    sys.exit(entry())
