"""The `canvas-app` command.

    canvas-app                          open the editor
    canvas-app open PROJECT|EXPORTED.png|EXPORTED.mp4 [--screenshot OUT.png]
    canvas-app run PROJECT [--out DIR] [--backend NAME] [--device D] [--seed N] [--export LIST]
                   [--farm ray|auto|ray://HOST:PORT]
    canvas-app validate PROJECT
    canvas-app identity create|score|list|show|delete ...
    canvas-app nodes [--json]
    canvas-app doctor [--json] [--vram GB] [PROJECT]

Exit codes: 0 done, 1 failure while running, 2 bad input, 130 cancelled.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from canvas_app.errors import BadInput, CanvasError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 1, 2, 130
TRUST_HELP = ("for an exported PNG or video: let its graph read the files it names outside the "
              "folder it was exported to (refused otherwise: the file may come from anyone)")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit code is 2 as well
        self.print_usage(sys.stderr)
        print(f"canvas-app: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="canvas-app", description="Node canvas for identity-locked AI video.")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)

    open_cmd = commands.add_parser("open", help="open a project in the editor")
    open_cmd.add_argument("project")
    open_cmd.add_argument("--screenshot", metavar="OUT.png",
                          help="render the window offscreen to a PNG and exit")
    open_cmd.add_argument("--run-first", action="store_true",
                          help="with --screenshot: run the graph and wait before rendering")
    open_cmd.add_argument("--select", metavar="NODE_ID",
                          help="with --screenshot: select this node (its preview is shown)")
    open_cmd.add_argument("--zoom", metavar="PERCENT", type=float,
                          help="with --screenshot: zoom the canvas to this, centred on the graph")
    open_cmd.add_argument("--trust-paths", action="store_true", help=TRUST_HELP)
    open_cmd.set_defaults(handler=_open)

    run = commands.add_parser("run", help="run a project without the editor")
    run.add_argument("project")
    run.add_argument("--out", metavar="DIR", help="output folder (default: ./output/<project>)")
    run.add_argument("--backend", help="generator backend for every Generate node "
                                       "(animatic, diffusers)")
    run.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    run.add_argument("--seed", type=int, help="base seed; shot k gets seed N+k-1")
    run.add_argument("--models-dir", metavar="DIR",
                     help="folder holding insightface packs as models/<pack>/*.onnx "
                          "(default: $CANVAS_APP_MODELS or the user data folder)")
    run.add_argument("--no-cache", action="store_true",
                     help="neither use nor keep results cached on disk from earlier runs")
    run.add_argument("--quiet", action="store_true", help="no progress output")
    run.add_argument("--export", metavar="LIST",
                     help="exports of every Sequence besides the MP4, .otio and report: a comma "
                          "list of prores, webp, gif, frames, edl, fcp7, fcpxml, contact_sheet; "
                          "or all, or none (default: as set on each Sequence)")
    run.add_argument("--farm", metavar="ADDRESS",
                     help="render shots in parallel on a Ray cluster: ray (start one on this "
                          "machine), auto, or ray://HOST:PORT (needs the [farm] extra)")
    run.add_argument("--trust-paths", action="store_true", help=TRUST_HELP)
    run.set_defaults(handler=_run)

    validate = commands.add_parser("validate", help="check a project without running it")
    validate.add_argument("project")
    validate.add_argument("--trust-paths", action="store_true", help=TRUST_HELP)
    validate.add_argument("--models-dir", metavar="DIR",
                          help="folder holding insightface packs (as for run)")
    validate.set_defaults(handler=_validate)

    nodes = commands.add_parser("nodes", help="list node types, their ports and params")
    nodes.add_argument("--json", action="store_true")
    nodes.set_defaults(handler=_nodes)

    doctor = commands.add_parser("doctor", help="check the GPU, libraries and the models a project needs "
                                                "(exit 0 runnable, 1 something missing)")
    doctor.add_argument("project", nargs="?")
    doctor.add_argument("--json", action="store_true")
    doctor.add_argument("--models-dir", metavar="DIR", help="folder holding insightface packs")
    doctor.add_argument("--vram", metavar="GB", type=float,
                        help="say which memory plan Keyframe/Motion models get on a card of GB")
    doctor.set_defaults(handler=_doctor)

    from canvas_app.identity.cli import add_identity_commands

    add_identity_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C before a command's own handling starts
        print("canvas-app: cancelled", file=sys.stderr)
        return EXIT_CANCELLED


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        from canvas_app.ui.app import launch_editor

        return launch_editor(None, None)
    try:
        return args.handler(args)
    except BadInput as error:
        print(f"canvas-app: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except CanvasError as error:
        print(f"canvas-app: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("canvas-app: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except BrokenPipeError:  # e.g. `canvas-app nodes | head`
        sys.stderr.close()
        return EXIT_OK
    except OSError as error:
        import errno

        if error.errno not in (errno.ENAMETOOLONG, errno.ELOOP):
            raise
        # A path no file can have, wherever a command met it: the user's to change.
        name = str(error.filename or "")
        shown = name if len(name) <= 200 else name[:200] + "..."
        print(f"canvas-app: file {shown}: {error.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _doctor(args) -> int:
    from canvas_app.doctor import run_doctor

    return run_doctor(args.project, as_json=args.json, models_dir=args.models_dir,
                      vram_gb=args.vram)


def _open(args) -> int:
    from canvas_app.ui.app import launch_editor

    if not Path(args.project).is_file():
        raise BadInput("project file not found", file=args.project)
    if args.zoom is not None and not 8 <= args.zoom <= 300:
        raise BadInput("must be between 8 and 300 (percent)", field="--zoom")
    if args.screenshot:
        from canvas_app.fileio import NotRegularFile, check_replaceable

        try:
            check_replaceable(args.screenshot)
        except NotRegularFile:
            raise BadInput("not a regular file; the screenshot would replace it",
                           file=args.screenshot, field="--screenshot") from None
        from canvas_app.media.publish import check_writable
        from canvas_app.project import load_project

        folder = Path(args.screenshot).parent
        if folder.is_dir():
            check_writable(folder)
        load_project(args.project)  # not a project at all: exit 2 here, not a dialog offscreen
    return launch_editor(args.project, args.screenshot, run_first=args.run_first,
                         select=args.select, zoom=args.zoom / 100 if args.zoom else None,
                         trust_paths=args.trust_paths)


def _load_checked(path: str, trust_paths: bool = False):
    """Load a project; any error-level issue is bad input (exit 2)."""
    from canvas_app.project import load_project

    graph, issues = load_project(path, trust_paths=trust_paths)
    errors = [issue for issue in issues if issue.severity == "error"]
    for issue in issues:
        if issue is not (errors[0] if errors else None):
            print(f"canvas-app: {issue}", file=sys.stderr)
    if errors:  # the first error is the exit message; the others are printed above
        first = errors[0]
        raise BadInput(first.message, file=first.file, node=first.node, field=first.field)
    return graph


def _validate(args) -> int:
    from canvas_app.engine import check_runnable, plan

    from canvas_app.engine.plan import content_problems

    if args.models_dir:  # where run --models-dir would find the face models
        import os

        os.environ["CANVAS_APP_MODELS"] = str(Path(args.models_dir).resolve())
    graph = _load_checked(args.project, args.trust_paths)
    order = plan(graph)
    problems = check_runnable(graph, order)
    if not problems:  # reading faces is slow, and needless once something else is wrong
        problems = content_problems(graph, order, Path(args.project).resolve().parent)
    for problem in problems:
        node = graph.nodes[problem.node_id]
        field = f", field {problem.field}" if problem.field else ""
        print(f"canvas-app: file {args.project}, node {node.label}{field}: {problem.message}",
              file=sys.stderr)
    if problems:
        return EXIT_BAD_INPUT
    print(f"{args.project}: ok ({len(graph.nodes)} nodes, {len(graph.links)} links)")
    return EXIT_OK


def apply_overrides(graph, backend: str | None, device: str | None, seed: int | None) -> None:
    """Command-line overrides go into the Generate nodes' params, so that the
    cache keys see them like any other edit."""
    shot = 0
    for node in graph.nodes.values():
        if node.type_name != "Generate":
            continue
        try:
            if backend is not None:
                graph.set_param(node.id, "backend", backend)
            if device is not None:
                graph.set_param(node.id, "device", device)
            if seed is not None:
                graph.set_param(node.id, "seed", seed + shot)
        except ValueError as error:
            raise BadInput(str(error), field="--backend/--device/--seed") from None
        shot += 1


def _run(args) -> int:
    from canvas_app.console import ConsoleProgress
    from canvas_app.engine import CancelToken, Executor
    from canvas_app.engine.disk_cache import DiskCache

    project = Path(args.project)
    if args.models_dir:
        import os

        os.environ["CANVAS_APP_MODELS"] = str(Path(args.models_dir).resolve())
    graph = _load_checked(args.project, args.trust_paths)
    apply_overrides(graph, args.backend, args.device, args.seed)
    if args.export is not None:
        from canvas_app.media.exports.options import apply_exports, parse_exports

        try:
            apply_exports(graph, parse_exports(args.export))
        except ValueError as error:
            raise BadInput(str(error), field="--export") from None
    dispatcher = _farm(args.farm) if args.farm else None
    out_dir = Path(args.out) if args.out else Path("output") / project.name.split(".")[0]
    created_out_dir = not out_dir.exists()
    prepare_output_folder(out_dir, project, default=not args.out)

    token = CancelToken()

    def on_interrupt(*_):
        # The first Ctrl-C stops at the next cancel point; a second one stops at once
        # (for a step with no cancel point, such as a model download).
        token.cancel()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    console = ConsoleProgress(graph, quiet=args.quiet)
    try:
        disk_cache = None if args.no_cache else DiskCache()
        try:
            result = Executor(disk_cache=disk_cache, dispatcher=dispatcher).run(
                graph, listener=console, cancel_token=token, output_dir=out_dir,
                project_dir=project.resolve().parent)
        finally:
            if dispatcher is not None:
                dispatcher.shutdown()
    except BadInput as error:
        error.file = error.file or str(project)
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
        if created_out_dir and not any(out_dir.iterdir()):
            out_dir.rmdir()  # nothing was exported: leave no trace
    if result.status != "cancelled" and out_dir.exists():
        try:
            console.write_log(out_dir)
        except OSError as error:  # the outputs are written; the log is not worth exit 1
            print(f"canvas-app: file {out_dir / 'run.json'}: not written "
                  f"({error.strerror or error})", file=sys.stderr)

    if result.status == "cancelled":
        print("canvas-app: cancelled; partial outputs removed", file=sys.stderr)
        return EXIT_CANCELLED
    if result.failures:
        for message in result.failures.values():
            where = "" if message.startswith("file ") else f"file {project}, "
            print(f"canvas-app: {where}{message}", file=sys.stderr)
        return EXIT_BAD_INPUT if result.bad_input else EXIT_FAILED
    console.summary(result, out_dir)
    return EXIT_OK


def _farm(address: str):
    from canvas_app.farm import ray_dispatcher

    dispatcher = ray_dispatcher(address)
    print(f"canvas-app: rendering on the Ray cluster at {address}", file=sys.stderr)
    return dispatcher


def prepare_output_folder(out_dir: Path, project: Path, default: bool) -> None:
    """Create the output folder; refuse one that is (or, for the default
    ./output/<project>, passes through) a symbolic link; finish or remove what
    a killed run left there, and a killed save beside the project."""
    from canvas_app.fileio import remove_stale_temp_files
    from canvas_app.media.publish import check_output_folder, check_writable, recover

    for folder in ([out_dir.parent, out_dir] if default else [out_dir]):
        if folder.is_symlink():
            raise BadInput("the output folder is a symbolic link; choose a real folder with "
                           "--out", file=str(folder), field="--out")
    check_output_folder(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BadInput(f"cannot use it as the output folder ({error.strerror or error})",
                       file=str(out_dir), field="--out") from None
    for folder in (out_dir, out_dir / "shots"):  # read-only: refused before anything renders
        if folder.is_dir():
            check_writable(folder)
    recover(out_dir)
    remove_stale_temp_files(project)


def _nodes(args) -> int:
    from canvas_app.graph import default_registry

    # In the order a graph flows: inputs, identity, shots, output; sources first within each.
    flow = {"Inputs": 0, "Identity": 1, "Shots": 2, "Output": 3}
    specs = sorted(default_registry().specs(),
                   key=lambda spec: (flow.get(spec.category, 9), len(spec.inputs), spec.type_name))
    if args.json:
        print(json.dumps([spec.to_dict() for spec in specs], indent=2))
        return EXIT_OK
    for spec in specs:
        print(f"{spec.type_name} (v{spec.version}) - {spec.description}")
        for port in spec.inputs:
            extra = ", optional" if port.optional else ", several" if port.multiple else ""
            print(f"    in  {port.name}: {port.type}{extra}")
        for port in spec.outputs:
            print(f"    out {port.name}: {port.type}")
        for param in spec.params:
            choices = f" [{'|'.join(param.choices)}]" if param.choices else ""
            print(f"    param {param.name} ({param.kind}{choices}) = {param.default!r}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
