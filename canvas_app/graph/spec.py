"""Declarations of node types: their ports, params and version.

A node type is a class deriving from `NodeType` with a `spec` and a `run`
method. `run` is a function of its inputs and params (plus a RunContext for
progress, previews and cancel); that is what lets the engine cache results by
content.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Callable, ClassVar

from canvas_app.graph import types
from canvas_app.values import Clip, Identity

# Param kinds; the inspector picks an editor for each.
PARAM_KINDS = (
    "str",  # one line of text
    "text",  # multiline text (prompts)
    "int",
    "float",
    "bool",
    "choice",
    "seed",  # int with a dice button
    "file",  # one path, stored relative to the project file
    "images",  # list of {"path": ..., "role": ...}, paths relative to the project file
    "trims",  # list of {"in": s, "out": s or null, "dissolve": s (optional)}, one per clip in order
)


@dataclass(frozen=True)
class PortSpec:
    name: str
    type: str
    label: str = ""
    optional: bool = False
    multiple: bool = False  # an input that accepts several links, in order (Sequence clips)

    def __post_init__(self) -> None:
        if self.type not in types.PORT_COLORS:
            raise ValueError(f"unknown port type {self.type!r}")


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: str
    default: Any
    label: str = ""
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    file_filter: str = ""  # for "file": e.g. "Identity files (*.identity.safetensors)"
    advanced: bool = False  # shown folded away in the inspector's "Advanced" group
    rows: int = 2  # for "text": the editor's height in lines of 28 px
    # When the field applies: ((other param, values it must have), ...). The
    # inspector disables the field otherwise, without knowing the node type.
    enabled_when: tuple[tuple[str, tuple], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in PARAM_KINDS:
            raise ValueError(f"unknown param kind {self.kind!r}")

    @property
    def display_name(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    def not_applying(self, params: dict[str, Any]) -> str | None:
        """Why this field does not apply with these params (None: it does)."""
        for other, values in self.enabled_when:
            if params.get(other) not in values:
                shown = " or ".join(repr(v) if not isinstance(v, bool) else ("on" if v else "off")
                                    for v in values)
                return f"Applies only when {other.replace('_', ' ')} is {shown}"
        return None

    def check(self, value: Any) -> tuple[Any, str | None]:
        """Return (normalised value, None) or (value, reason it is wrong)."""
        kind = self.kind
        if kind in ("str", "text", "file"):
            if isinstance(value, Path):
                value = str(value)
            if not isinstance(value, str):
                return value, f"expected text, got {type(value).__name__}"
            if not _encodable(value):
                return value, "the text holds an invalid character (a lone surrogate)"
            return value, None
        if kind == "bool":
            if not isinstance(value, bool):
                return value, f"expected true or false, got {value!r}"
            return value, None
        if kind in ("int", "seed", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return value, f"expected a number, got {value!r}"
            if kind in ("int", "seed"):
                if isinstance(value, float) and not value.is_integer():
                    return value, f"expected a whole number, got {value!r}"
                value = int(value)
                if abs(value) >= 2 ** 63:  # nothing downstream takes more than 64 bits
                    return value, "the number is far too large"
            else:
                value = _finite_float(value)
                if value is None:
                    return value, "expected a finite number"
            if self.minimum is not None and value < self.minimum:
                return value, f"{value} is below the minimum {self.minimum:g}"
            if self.maximum is not None and value > self.maximum:
                return value, f"{value} is above the maximum {self.maximum:g}"
            return value, None
        if kind == "choice":
            if value not in self.choices:
                return value, f"{value!r} is not one of {', '.join(self.choices)}"
            return value, None
        if kind == "images":
            if not isinstance(value, list):
                return value, "expected a list of images"
            normalised = []
            for index, entry in enumerate(value):
                if isinstance(entry, str):
                    entry = {"path": entry, "role": "face"}
                if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                    return value, f"image {index + 1} needs a path"
                role = entry.get("role", "face")
                from canvas_app.values import ROLES

                if role not in ROLES:
                    return value, f"image {index + 1}: unknown role {role!r} (use {', '.join(ROLES)})"
                normalised.append({"path": entry["path"], "role": role})
            return normalised, None
        if kind == "trims":
            if not isinstance(value, list):
                return value, "expected a list of {in, out} trims"
            normalised = []
            for index, entry in enumerate(value):
                if not isinstance(entry, dict):
                    return value, f"trim {index + 1} must be an object with in and out"
                start, end = entry.get("in", 0.0), entry.get("out")
                start = None if isinstance(start, bool) else _finite_float(start)
                if start is None or not 0 <= start <= MAX_SECONDS:
                    return value, f"trim {index + 1}: in must be a number of seconds >= 0"
                if end is not None:
                    end = None if isinstance(end, bool) else _finite_float(end)
                    if end is None or not start < end <= MAX_SECONDS:
                        return value, f"trim {index + 1}: out must be empty or greater than in"
                trim = {"in": start, "out": end}
                dissolve = entry.get("dissolve", 0.0)  # seconds of dissolve into this shot
                dissolve = None if isinstance(dissolve, bool) else _finite_float(dissolve)
                if dissolve is None or not 0 <= dissolve <= MAX_SECONDS:
                    return value, f"trim {index + 1}: dissolve must be a number of seconds >= 0"
                if dissolve:
                    trim["dissolve"] = dissolve
                normalised.append(trim)
            return normalised, None
        return value, f"unsupported kind {kind}"


MAX_SECONDS = 24 * 3600.0  # no trim point is further than a day into a shot


def _encodable(text: str) -> bool:
    """Text that can be written as UTF-8 (exports, reports and file names need it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _finite_float(value: Any) -> float | None:
    """float(value) if it is a finite number (an int near 10**400 is not), else None."""
    if not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class NodeSpec:
    type_name: str
    version: int
    title: str
    category: str = ""
    description: str = ""
    inputs: tuple[PortSpec, ...] = ()
    outputs: tuple[PortSpec, ...] = ()
    params: tuple[ParamSpec, ...] = ()
    # What the editor needs to know, so that adding a node type touches nothing in ui/:
    summary: Callable[[dict[str, Any]], list[str]] | None = None  # 1-2 lines shown on the node
    drop_param: str = ""  # the "images" param that takes image files dropped on the canvas
    # Image files dropped on empty canvas make a node of the type with the highest
    # drop_priority among those with a drop_param (Reference: 10; ties: registry order).
    drop_priority: int = 0
    header_color: str = ""  # "#rrggbb" for this type's header; else its category's colour

    def __post_init__(self) -> None:
        if self.drop_param and (self.param(self.drop_param) is None
                                or self.param(self.drop_param).kind != "images"):
            raise ValueError(f"{self.type_name}: drop_param {self.drop_param!r} is not an images param")

    def __getstate__(self) -> dict[str, Any]:
        """Specs travel with graph snapshots to the engine process; `summary`
        is the editor's alone and may be a lambda, which cannot be pickled.
        (Unpickled, the field reads the class default, None.)"""
        state = dict(self.__dict__)
        state.pop("summary", None)
        return state

    def summarize(self, params: dict[str, Any]) -> list[str]:
        """One or two lines that tell nodes of this type apart on the canvas."""
        return list(self.summary(params)) if self.summary is not None else []

    def input(self, name: str) -> PortSpec | None:
        return next((port for port in self.inputs if port.name == name), None)

    def output(self, name: str) -> PortSpec | None:
        return next((port for port in self.outputs if port.name == name), None)

    def param(self, name: str) -> ParamSpec | None:
        return next((param for param in self.params if param.name == name), None)

    def default_params(self) -> dict[str, Any]:
        import copy

        return {param.name: copy.deepcopy(param.default) for param in self.params}

    def to_dict(self) -> dict[str, Any]:
        """The JSON description printed by `canvas-app nodes --json`."""
        return {
            "type": self.type_name,
            "version": self.version,
            "title": self.title,
            "category": self.category,
            "description": self.description,
            "inputs": [vars(port) for port in self.inputs],
            "outputs": [vars(port) for port in self.outputs],
            "params": [
                {key: (list(value) if isinstance(value, tuple) else value)
                 for key, value in vars(param).items() if value not in (None, "", ())
                 and not (key == "advanced" and value is False) and not (key == "rows" and value == 2)}
                | {"default": param.default}
                for param in self.params
            ],
        }


class Placement(StrEnum):
    """Where a node runs on a render farm (canvas_app/farm)."""
    GPU = "gpu"  # on a GPU worker actor
    CPU = "cpu"  # a CPU task anywhere in the cluster
    LOCAL = "local"  # in the process that started the run (reads the user's files, writes outputs)


@dataclass(frozen=True)
class IdentityVerdict:
    """A result's identity score and whether it passed; `threshold` is what
    it was judged against (None for a verdict over several shots)."""
    score: float | None
    passed: bool
    threshold: float | None = None


@dataclass(frozen=True)
class MemoryCost:
    """The memory a node's result will hold, known before the run."""
    size: int  # bytes
    field: str  # the param to lower
    advice: str  # what to change, e.g. "lower its width, height or fps"
    seconds: float | None = None  # how long the clip it makes lasts (a cut adds them up)
    problem: str | None = None  # refused whatever the budget (e.g. a cut over a day long)
    # (frames, fps) of the clip it makes, when known exactly before the run: lets a
    # cut check its trims and dissolves at `validate` (NodeType.check_cut)
    clip: tuple[int, float] | None = None
    sound: bool = False  # the clip carries a sound of its own (LTX-2's), laid under the cut


class NodeType:
    """Base of every node type. Subclasses set `spec` and implement `run`.

    The engine, the farm and the editor ask the type, never name it: the
    hooks below (placement, memory_cost, result_picture, identity_verdict)
    answer for every type, and a type overrides the ones it knows better."""

    spec: ClassVar[NodeSpec]
    # Where it runs on a farm; a type whose answer depends on its params
    # overrides `placement` instead.
    farm_placement: ClassVar[str] = Placement.LOCAL

    def run(self, inputs: dict[str, Any], params: dict[str, Any], ctx) -> dict[str, Any]:
        """Compute outputs. `inputs` maps input port names to values (a list
        for `multiple` ports, None for unconnected optional ports); `params`
        holds validated values with paths resolved to absolute ones."""
        raise NotImplementedError

    def input_files(self, params: dict[str, Any]) -> list[Path]:
        """Files whose contents the result depends on (for cache keys)."""
        files: list[Path] = []
        for param in self.spec.params:
            value = params.get(param.name)
            if param.kind == "file" and value:
                files.append(Path(value))
            elif param.kind == "images" and value:
                files.extend(Path(entry["path"]) for entry in value)
        return files

    def check_inputs(self, params: dict[str, Any]) -> list[tuple[str, str]]:
        """(field, problem) for input files that cannot work, found before a run
        starts, so that `validate` refuses what `run` would. Reads image headers only."""
        from canvas_app.file_checks import image_problem

        problems = []
        for param in self.spec.params:
            if param.kind == "images":
                for entry in params.get(param.name) or ():
                    problem = image_problem(entry["path"])
                    if problem:
                        problems.append((param.name, f"{entry['path']}: {problem}"))
        return problems

    def check_content(self, params: dict[str, Any], upstream: dict[str, list[dict[str, Any]]],
                      project_dir: Path | None, title: str = "") -> list[tuple[str, str]]:
        """(field, problem) that only reading the inputs' content tells (the
        faces in the references, the identities in the library): `validate`
        asks, so that it refuses what `run` would; a run finds the same when
        the node runs. `upstream` maps each input port to the params of the
        nodes linked to it; `title` is the node's (some name what they make by it)."""
        return []

    def output_name(self, params: dict[str, Any]) -> str | None:
        """The base name of the files this node writes into the output folder,
        or None: two nodes with the same one would overwrite each other."""
        return None

    def key_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The params the result depends on (all, unless a node knows better)."""
        return params

    def cache_key_extra(self, params: dict[str, Any], ctx) -> str:
        """Anything else the result depends on (e.g. the output folder)."""
        return ""

    # Node types whose results are worth keeping between sessions implement
    # these two (see canvas_app/engine/disk_cache.py); the rest are recomputed.
    def save_result(self, outputs: dict[str, Any], folder: Path) -> bool:
        """Write `outputs` into the empty `folder`; False if not supported."""
        return False

    def load_result(self, folder: Path) -> dict[str, Any] | None:
        """Read what save_result wrote, without unpickling anything."""
        return None

    def is_result_valid(self, outputs: dict[str, Any]) -> bool:
        """A cached result can go stale outside the engine (a deleted export)."""
        return True

    # -- what the engine, the farm and the editor ask of a type ------------------------
    def placement(self, params: dict[str, Any]) -> Placement:
        """Where it runs on a farm (canvas_app/farm/placement.py)."""
        return Placement(self.farm_placement)

    def memory_cost(self, params: dict[str, Any],
                    upstream: dict[str, list[dict[str, Any]]]) -> MemoryCost | None:
        """The memory its result will hold, checked against the run's budget
        before anything runs (engine/budget.py); `upstream` maps each input
        port to the params of the nodes linked to it. None: nothing large."""
        return None

    def cut_cost(self, params: dict[str, Any], shot_seconds: list[float],
                 shots_with_sound: bool = False) -> MemoryCost | None:
        """For a node that assembles its input shots into one cut: what the cut
        holds, given how long each input shot lasts and whether any carries a
        sound of its own (engine/budget.py). None: not a cut."""
        return None

    def check_cut(self, params: dict[str, Any],
                  clips: list[tuple[int, float] | None]) -> list[tuple[str, str]]:
        """For a node that assembles its input shots into one cut: (field,
        problem) for what the run would refuse (trims that leave no frames,
        dissolves longer than the shots), given each input clip's (frames,
        fps) in link order, None where not known before the run."""
        return []

    def result_picture(self, outputs: dict[str, Any]):
        """The picture (an RGB uint8 array) the editor shows for a result: by
        default a clip's middle frame or an identity's portrait; None for
        results without one."""
        for value in outputs.values():
            if isinstance(value, Clip) and value.frames:
                return value.frames[len(value.frames) // 2]
            if isinstance(value, Identity) and getattr(value, "portrait", None) is not None:
                return value.portrait
        return None

    def identity_verdict(self, outputs: dict[str, Any]) -> IdentityVerdict | None:
        """The result's identity score and verdict: by default a clip's, as
        the identity guard scored it (Clip.metadata); None when it has none."""
        for value in outputs.values():
            metadata = value.metadata if isinstance(value, Clip) else None
            score = metadata.get("identity_score") if isinstance(metadata, dict) else None
            if isinstance(score, dict):
                return IdentityVerdict(score.get("effective_mean", score.get("mean")),
                                       bool(metadata.get("identity_passed", True)),
                                       metadata.get("identity_threshold"))
        return None
