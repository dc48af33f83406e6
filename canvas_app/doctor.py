"""`canvas-app doctor`: can this machine run this project as set?

Checks Python, torch and the device, the versions of the generation libraries
against the floors the code needs, the installed face packs (with their
licence), and, for a project, every model and adapter its diffusers Generate
nodes would load: in a local folder or the Hugging Face cache, or still to
download, with the command that fetches it. Nothing is downloaded or loaded.

The Models panel in the editor shows the same report (`project_models`).
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# What the code needs (pyproject.toml carries the same floors; a test checks):
# diffusers and transformers accept `dtype=` in from_pretrained / from_pipe;
# diffusers 0.42 needs huggingface-hub 1.32, which transformers accepts from 5.0
# (4.x wants a hub below 1.0); below peft 0.17 diffusers 0.42 turns its LoRA
# support off, and every FaceID file carries a LoRA.
VERSION_FLOORS = {
    "torch": "2.2",
    "diffusers": "0.42",
    "transformers": "5.0",
    "peft": "0.17",
    "huggingface-hub": "1.32",
    "onnxruntime": "1.17",
    "insightface": "2.1",
}
FACEID_PACK = "buffalo_l"


@dataclass
class ModelCheck:
    """One model, adapter or face pack a project needs."""

    field: str  # the Generate param (model, faceid_adapter, ...) or "face_pack"
    spec: str  # as written in the project
    nodes: list[str] = field(default_factory=list)  # node labels that need it
    present: bool = False
    path: str = ""  # where it is, when present
    size_bytes: int | None = None  # on disk when present; download size when known
    source: str = ""  # local | hub | pack
    fix: str = ""  # the command (or edit) that makes it present
    licence: str = ""
    repo_id: str = ""
    inner: str = ""  # file or folder inside the hub repository
    revision: str = ""
    plan: str = ""  # Keyframe/Motion models: the memory plan on this (or the --vram) card, and why
    plans: str = ""  # Keyframe/Motion models: every plan it can run under, with the cards each suits


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _at_least(version: str, floor: str) -> bool:
    def parts(text: str) -> tuple[int, ...]:
        numbers = []
        for piece in text.split("+")[0].split("."):
            digits = "".join(ch for ch in piece if ch.isdigit())
            if not digits:
                break
            numbers.append(int(digits))
        return tuple(numbers)

    return parts(version) >= parts(floor)


def check_packages() -> list[dict[str, Any]]:
    rows = []
    for package, floor in VERSION_FLOORS.items():
        version = _version(package)
        ok = version is not None and _at_least(version, floor)
        rows.append({"package": package, "version": version, "floor": floor, "ok": ok,
                     "fix": "" if ok else f"pip install '{package}>={floor}'"})
    return rows


# The libraries whose versions the generation libraries constrain among themselves.
WATCHED_PACKAGES = ("torch", "transformers", "huggingface-hub", "peft", "accelerate", "safetensors", "tokenizers")
REQUIRERS = ("diffusers", "transformers", "peft", "accelerate")


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _diffusers_peft_gates() -> list[str]:
    """The versions below which diffusers turns its PEFT (LoRA) backend off
    without an error (`MIN_PEFT_VERSION` / `MIN_TRANSFORMERS_VERSION` in
    diffusers/utils/constants.py). peft is an optional extra of diffusers, so
    pip never enforces them. Read from the source text: importing diffusers
    is what a version mismatch may break."""
    import re

    spec = importlib.util.find_spec("diffusers")
    if spec is None or not spec.submodule_search_locations:
        return []
    path = Path(list(spec.submodule_search_locations)[0]) / "utils" / "constants.py"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    gates = []
    for variable, package in (("MIN_PEFT_VERSION", "peft"), ("MIN_TRANSFORMERS_VERSION", "transformers")):
        match = re.search(rf"^{variable}\s*=\s*[\"']([0-9][0-9A-Za-z.]*)[\"']", text, re.MULTILINE)
        if match:
            gates.append(f"{package}>={match.group(1)}")
    return gates


def requirement_rows(declared: dict[str, tuple[str, list[str]]],
                     installed: dict[str, str | None]) -> list[dict[str, Any]]:
    """Each requirement a generation library declares on a watched package,
    against the installed version. declared: requirer -> (its version, its
    requirement strings); installed: package -> version or None."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion, Version

    rows = []
    for requirer, (requirer_version, lines) in declared.items():
        for line in lines:
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            if requirement.marker is not None and "extra" in str(requirement.marker):
                continue
            package = _canonical(requirement.name)
            if package not in WATCHED_PACKAGES or not str(requirement.specifier):
                continue
            version = installed.get(package)
            try:
                ok = version is not None and requirement.specifier.contains(Version(version), prereleases=True)
            except InvalidVersion:
                ok = False
            rows.append({"package": package, "requires": str(requirement.specifier), "version": version,
                         "required_by": f"{requirer} {requirer_version}", "ok": ok,
                         "fix": "" if ok else f"pip install '{package}{requirement.specifier}'"})
    return rows


def check_library_requirements() -> list[dict[str, Any]]:
    """What diffusers, transformers, peft and accelerate, as installed, require
    of each other (and of torch and huggingface-hub), plus diffusers' own PEFT
    gates: a mismatch pip lets through turns LoRA support off or breaks imports."""
    declared: dict[str, tuple[str, list[str]]] = {}
    for requirer in REQUIRERS:
        version = _version(requirer)
        if version is None:
            continue
        lines = list(importlib.metadata.requires(requirer) or [])
        if requirer == "diffusers":
            lines += _diffusers_peft_gates()
        declared[requirer] = (version, lines)
    installed = {package: _version(package) for package in WATCHED_PACKAGES}
    return requirement_rows(declared, installed)


def check_device() -> dict[str, Any]:
    """torch and the accelerator; torch is imported here (doctor is a CLI command)."""
    if importlib.util.find_spec("torch") is None:
        return {"torch": None, "device": "none", "note": "torch is not installed: pip install torch"}
    import torch

    info: dict[str, Any] = {"torch": torch.__version__, "cuda_build": torch.version.cuda}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(device="cuda", name=props.name, memory_bytes=int(props.total_memory),
                    count=torch.cuda.device_count())
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        info.update(device="mps", name="Apple GPU")
    else:
        info.update(device="cpu", name=platform.processor() or platform.machine(),
                    note="no GPU: diffusers shots render on the CPU, very slowly")
    return info


def check_face_packs(models_dir: str | None = None) -> dict[str, Any]:
    from canvas_app.identity.encoders import INSIGHTFACE_LICENSE_NOTE, installed_packs, resolve_models_dir

    return {"folder": str(resolve_models_dir(models_dir) / "models"),
            "installed": installed_packs(models_dir), "licence": INSIGHTFACE_LICENSE_NOTE}


MAX_FILES_COUNTED = 10_000  # a model folder has dozens; `/` given as a LoRA has millions


def _folder_bytes(path: Path) -> int | None:
    """Bytes in a model file or folder; None (size unknown) for a folder too
    large to be a model, or one that cannot be read through."""
    if path.is_file():
        return path.stat().st_size
    total, counted = 0, 0
    for folder, _dirs, files in os.walk(path, onerror=lambda _error: None):
        for name in files:
            counted += 1
            if counted > MAX_FILES_COUNTED:
                return None
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def locate(check: ModelCheck) -> ModelCheck:
    """Fill in present/path/size/fix for one model spec, without downloading."""
    from canvas_app.generation.diffusers.loading import RESOLVE_ARGS
    from canvas_app.generation.video_models.requirements import DOWNLOAD_PATTERNS
    from canvas_app.generation.model_manager import looks_like_hub_id, split_hub_spec

    from canvas_app.fileio import local_path_problem

    spec = check.spec
    local = Path(os.path.expanduser(spec))  # "~nosuchuser/x" stays as written, no RuntimeError
    problem = local_path_problem(local)
    if problem:
        check.source = "local"
        check.fix = f"{problem}: give another path for {check.field}"
        return check
    if local.exists():
        check.present, check.path, check.source = True, str(local.resolve()), "local"
        check.size_bytes = _folder_bytes(local)
        return check
    if not looks_like_hub_id(spec) or local.is_absolute():
        check.source = "local"
        check.fix = f"the path {spec} does not exist: put the file there or change {check.field}"
        return check
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    repo_id, inner, revision = split_hub_spec(spec)
    check.source, check.repo_id, check.inner, check.revision = "hub", repo_id, inner or "", revision or ""
    args = RESOLVE_ARGS.get(check.field, {})
    is_file = inner is not None and "." in Path(inner).name
    try:
        if is_file:
            path = Path(hf_hub_download(repo_id, inner, revision=revision, local_files_only=True))
        else:
            patterns = [f"{inner.strip('/')}/*"] if inner else \
                list(DOWNLOAD_PATTERNS.get(repo_id, ())) or args.get("allow_patterns")
            folder = Path(snapshot_download(repo_id, revision=revision, local_files_only=True,
                                            allow_patterns=patterns,
                                            ignore_patterns=args.get("ignore_patterns")))
            path = folder / inner if inner else folder
            if not path.exists() or (path.is_dir() and not any(path.iterdir())):
                raise LocalEntryNotFoundError(spec)
        check.present, check.path, check.size_bytes = True, str(path), _folder_bytes(path)
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        rev = f" --revision {revision}" if revision else ""
        if is_file:
            check.fix = f"hf download {repo_id} {inner}{rev}"
        elif inner:
            check.fix = f"hf download {repo_id} --include '{inner.strip('/')}/*'{rev}"
        elif repo_id in DOWNLOAD_PATTERNS:  # only the part of the repository that is read
            only = "".join(f" --include '{pattern}'" for pattern in DOWNLOAD_PATTERNS[repo_id])
            check.fix = f"hf download {repo_id}{only}{rev}"
        else:
            check.fix = f"hf download {repo_id}{rev}"
    return check


def _generate_nodes(graph) -> list[tuple[Any, dict[str, Any], bool]]:
    """(node, params with defaults, has references) for each diffusers Generate."""
    found = []
    for node in graph.nodes.values():
        if node.type_name != "Generate" or node.spec is None:
            continue
        params = {spec.name: spec.default for spec in node.spec.params}
        params.update(node.params)
        if params.get("backend") != "diffusers":
            continue
        has_refs = any(link.dst == node.id and link.dst_port == "references" for link in graph.links)
        found.append((node, params, has_refs))
    return found


def project_models(graph, models_dir: str | None = None,
                   vram_gb: float | None = None) -> list[ModelCheck]:
    """Every model, adapter, LoRA and face pack the project's diffusers shots need."""
    from canvas_app.errors import BadInput
    from canvas_app.generation.diffusers.loading import detect_kind_from_file, detect_kind_from_folder, \
        needed_models
    from canvas_app.generation.diffusers.options import DIFFUSERS_OPTIONS, parse_options

    checks: dict[tuple[str, str], ModelCheck] = {}
    generate = _generate_nodes(graph)
    for node, params, has_refs in generate:
        label = node.title or node.id
        try:
            opts = parse_options({spec.name: params.get(spec.name) for spec in DIFFUSERS_OPTIONS})
        except BadInput as error:
            checks[("error", label)] = ModelCheck(field=error.field or "params", spec=str(error), nodes=[label],
                                                  fix=f"fix {error.field} on node {label}")
            continue
        kind = opts.model_kind
        if kind == "auto":
            from canvas_app.fileio import local_path_problem

            local = Path(os.path.expanduser(opts.model))
            kind = "sd15"
            if local_path_problem(local):
                pass  # reported by locate() below, with the field to change
            elif local.is_dir():
                kind = detect_kind_from_folder(local)
            elif local.is_file():
                kind = detect_kind_from_file(local)
            else:
                model = locate(ModelCheck(field="model", spec=opts.model))
                if model.present and Path(model.path).is_dir():
                    kind = detect_kind_from_folder(Path(model.path))
                elif "xl" in opts.model.lower():
                    kind = "sdxl"
        wanted = list(needed_models(opts, kind, has_refs).items())
        wanted += [("loras", lora.path) for lora in opts.loras]
        for name, spec in wanted:
            key = (name, spec)
            if key not in checks:
                checks[key] = locate(ModelCheck(field=name, spec=spec))
            checks[key].nodes.append(label)
    from canvas_app.generation.video_models.memory_plans import choose_plan, describe_plans
    from canvas_app.generation.video_models.requirements import DOWNLOAD_BYTES, stage_models

    for name, spec, label, licence in stage_models(graph):  # Keyframe / Motion nodes
        if (name, spec) not in checks:
            plan = choose_plan(spec, vram_gb)
            checks[(name, spec)] = locate(ModelCheck(field=name, spec=spec, licence=licence,
                                                     plan=f"{plan.name}: {plan.reason}",
                                                     plans=describe_plans(spec)))
            if not checks[(name, spec)].present:
                checks[(name, spec)].size_bytes = DOWNLOAD_BYTES.get(spec.split("@")[0])
        checks[(name, spec)].nodes.append(label)
    if generate:
        packs = check_face_packs(models_dir)
        present = FACEID_PACK in packs["installed"]
        checks[("face_pack", FACEID_PACK)] = ModelCheck(
            field="face_pack", spec=f"insightface/{FACEID_PACK}",
            nodes=[node.title or node.id for node, _, _ in generate], present=present,
            path=str(Path(packs["folder"]) / FACEID_PACK) if present else "", source="pack",
            size_bytes=_folder_bytes(Path(packs["folder"]) / FACEID_PACK) if present else None,
            fix="" if present else f"canvas-app identity download-pack {FACEID_PACK} --accept-non-commercial-license",
            licence=packs["licence"])
    return list(checks.values())


def report(project: str | None = None, models_dir: str | None = None,
           vram_gb: float | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "device": check_device(),
        "packages": check_packages(),
        "face_packs": check_face_packs(models_dir),
    }
    result["requirements"] = check_library_requirements()
    missing = [row["fix"] for row in result["packages"] if not row["ok"]]
    missing += list(dict.fromkeys(row["fix"] for row in result["requirements"] if not row["ok"]))
    if project is not None:
        from canvas_app.project import load_project

        graph, _issues = load_project(project)
        device = result["device"]
        if vram_gb is None and device.get("device") == "cuda" and device.get("memory_bytes"):
            vram_gb = device["memory_bytes"] / 1024 ** 3  # this machine's card
        checks = project_models(graph, models_dir, vram_gb)
        result["project"] = str(project)
        result["models"] = [asdict(check) for check in checks]
        missing += [check.fix for check in checks if not check.present]
    result["missing"] = missing
    result["runnable"] = not missing
    return result


def format_size(n: int | None, unknown: str = "size unknown") -> str:
    """Bytes as people read them (B, KB, MB, GB)."""
    if n is None:
        return unknown
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return unknown


def format_report(result: dict[str, Any]) -> str:
    device = result["device"]
    lines = [f"Python {result['python']} on {result['platform']}",
             f"torch {device.get('torch')}: {device.get('device')} ({device.get('name', '')})"
             + (f", {format_size(device['memory_bytes'])}" if device.get("memory_bytes") else "")]
    if device.get("note"):
        lines.append(f"  note: {device['note']}")
    for row in result["packages"]:
        mark = "ok " if row["ok"] else "OLD" if row["version"] else "MISSING"
        lines.append(f"  [{mark}] {row['package']} {row['version'] or '-'} (needs >= {row['floor']})")
    for row in result.get("requirements", []):
        if not row["ok"]:
            lines.append(f"  [MISMATCH] {row['required_by']} needs {row['package']}{row['requires']}, "
                         f"installed: {row['version'] or 'none'}")
    packs = result["face_packs"]
    lines.append(f"face packs in {packs['folder']}: {', '.join(packs['installed']) or 'none'}"
                 f" ({packs['licence']})")
    if "models" in result:
        lines.append(f"models for {result['project']}:")
        if not result["models"]:
            lines.append("  (no node uses a diffusers model)")
        for check in result["models"]:
            state = "present" if check["present"] else "MISSING"
            where = check["path"] if check["present"] else "would download" if check["source"] == "hub" else ""
            lines.append(f"  [{state}] {check['field']}: {check['spec']} - {format_size(check['size_bytes'])}"
                         f"{' - ' + where if where else ''} (nodes: {', '.join(check['nodes'])})")
            if check["licence"]:
                lines.append(f"      licence: {check['licence']}")
            if check.get("plan"):
                lines.append(f"      memory plan: {check['plan']}")
            if check.get("plans"):
                lines.append(f"      can run as: {check['plans']}")
    if result["missing"]:
        lines.append("to fix:")
        lines.extend(f"  {fix}" for fix in result["missing"])
    lines.append("runnable as set" if result["runnable"] else "NOT runnable as set")
    return "\n".join(lines)


def run_doctor(project: str | None, *, as_json: bool, models_dir: str | None = None,
               vram_gb: float | None = None) -> int:
    import json

    result = report(project, models_dir, vram_gb)
    print(json.dumps(result, indent=2, default=str) if as_json else format_report(result))
    return 0 if result["runnable"] else 1
