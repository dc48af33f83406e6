"""Where models come from, and the shared cache of loaded pipelines.

Model sources (`resolve_source`) accept the same three forms everywhere (base
model, FaceID adapter, image adapter, image encoder, motion adapter):

- a Hugging Face hub id: ``owner/name`` (a whole repository, fetched with
  `snapshot_download`), ``owner/name/sub/folder`` (one folder of it) or
  ``owner/name/path/file.safetensors`` (one file); an optional ``@revision``
  suffix pins a branch, tag or commit. Downloads report progress through
  `ctx.progress` (which is also the cancel point). With ``HF_HUB_OFFLINE=1``
  only the local cache is used, and a model that is not cached is a
  `BadInput` that says so.
- a local diffusers folder (``model_index.json`` or ``config.json`` inside);
- a local single file (``.safetensors``, ``.bin``, ``.ckpt``).

`ModelManager` keeps loaded pipelines by key (model, dtype, device, adapters,
...): each is loaded once and shared between Generate nodes. Entries are
sized by what their torch modules hold on each device; the least recently used
are evicted when a device goes over its budget or when a new load would not
fit the card. The module-level `model_manager` is the shared instance.

Nothing here imports torch at module level.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable

from canvas_app.engine.context import RunContext
from canvas_app.errors import BadInput, NodeFailure

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+(/[^@]+)?(@[\w.\-/]+)?$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")

# Files a diffusers pipeline repository needs: configs, tokenizers and the
# non-variant safetensors weights of each component (not the root-level
# single-file checkpoints, fp16/EMA variants, or duplicate .bin/.ckpt/ONNX/Flax).
PIPELINE_ALLOW = ["*.json", "*.txt", "*/*.safetensors", "*/*.model"]
PIPELINE_IGNORE = ["*.fp16.*", "*.non_ema.*", "*.ema.*", "*.onnx", "*.msgpack", "*.pb", "*.h5",
                   "*.ckpt", "*/*.bin", "*.onnx_data"]


def offline_mode() -> bool:
    """HF_HUB_OFFLINE read at call time (huggingface_hub reads it at import)."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except Exception:  # pragma: no cover
        return False


@dataclass(frozen=True)
class Source:
    """A resolved model location on local disk."""

    spec: str  # what the user wrote
    path: Path  # local folder or file
    kind: str  # "folder" | "file"
    origin: str  # "local" | "hub"
    repo_id: str | None = None
    revision: str | None = None  # hub commit hash when known

    @property
    def is_file(self) -> bool:
        return self.kind == "file"


def split_hub_spec(spec: str) -> tuple[str, str | None, str | None]:
    """"owner/name/sub/path@rev" -> ("owner/name", "sub/path", "rev")."""
    revision = None
    if "@" in spec:
        spec, revision = spec.rsplit("@", 1)
    parts = spec.strip("/").split("/")
    repo_id = "/".join(parts[:2])
    inner = "/".join(parts[2:]) or None
    return repo_id, inner, revision


def looks_like_hub_id(spec: str) -> bool:
    return bool(_HUB_ID.match(spec)) and not spec.startswith((".", "~")) and "\\" not in spec


def _revision_from_path(path: Path) -> str | None:
    """The commit hash when `path` lies inside a hub cache snapshot
    (``.../snapshots/<commit>/...``). Read from the path as given: a snapshot
    file is a symlink to a blob, whose resolved path has no commit in it."""
    parts = Path(os.path.abspath(path)).parts
    for index in range(len(parts) - 1, 0, -1):
        if _COMMIT.match(parts[index]) and parts[index - 1] == "snapshots":
            return parts[index]
    return None


_PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth")


def weight_format(path: Path) -> str | None:
    """"safetensors", "pickle" (torch.load: .bin/.ckpt/.pt/.pth) or None, from
    the name the user gave; a name without a known suffix (a Hugging Face cache
    blob, a renamed file) is told by its first bytes: a safetensors file starts
    with its header's length and ``{``, a torch file is a zip or a pickle."""
    suffix = Path(path).suffix.lower()
    if suffix == ".safetensors":
        return "safetensors"
    if suffix in _PICKLE_SUFFIXES:
        return "pickle"
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
    except OSError:
        return None
    if len(head) == 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") < (1 << 30):
        return "safetensors"
    if head[:2] == b"PK" or head[:1] == b"\x80":
        return "pickle"
    return None


class _ProgressBar:
    """Base for the tqdm class given to huggingface_hub: forwards byte counts."""


def make_tqdm_class(report: Callable[[int, int, str], None]):
    from tqdm.auto import tqdm as _tqdm

    class ProgressTqdm(_tqdm, _ProgressBar):
        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)
            kwargs["disable"] = False
            kwargs["file"] = open(os.devnull, "w")  # noqa: SIM115 - closed with the bar
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            result = super().update(n)
            if self.unit == "B":
                report(int(self.n), int(self.total or 0), str(self.desc or ""))
            return result

        def close(self):
            handle = self.fp
            super().close()
            try:
                handle.close()
            except Exception:
                pass

    return ProgressTqdm


def _download_progress(ctx: RunContext | None, label: str, span: tuple[float, float]):
    low, high = span
    last = [0.0]

    def report(done: int, total: int, desc: str) -> None:
        if ctx is None:
            return
        now = time.monotonic()
        if now - last[0] < 0.2 and (not total or done < total):
            return
        last[0] = now
        fraction = done / total if total else 0.0
        megabytes = f"{done / 1e6:.0f}/{total / 1e6:.0f} MB" if total else f"{done / 1e6:.0f} MB"
        ctx.progress(low + (high - low) * fraction, f"downloading {label}: {megabytes}")

    return report


def resolve_source(spec: str, *, field: str, ctx: RunContext | None = None, want: str = "any",
                   allow_patterns: list[str] | None = None, ignore_patterns: list[str] | None = None,
                   progress_span: tuple[float, float] = (0.0, 0.1), cache_dir: str | None = None,
                   node: str | None = None) -> Source:
    """Find `spec` locally or in the hub cache, downloading when allowed.

    want: "any", "folder" or "file" - what the caller can load.
    """
    spec = str(spec or "").strip()
    if not spec:
        raise BadInput("no model given", field=field, node=node)
    local = Path(os.path.expanduser(spec))
    from canvas_app.fileio import local_path_problem

    if problem := local_path_problem(local):  # checked before anything opens it: a FIFO blocks
        raise BadInput(f"{spec[:200]!r}: {problem}", field=field, node=node)
    if local.exists():
        kind = "file" if local.is_file() else "folder"
        if want != "any" and kind != want:
            raise BadInput(f"{spec!r} is a {kind}; a {want} is needed here", field=field, node=node)
        # Absolute, but not resolved: a file in a Hugging Face cache snapshot is a
        # symlink to a blob whose name carries neither the format nor the commit.
        return Source(spec=spec, path=Path(os.path.abspath(local)), kind=kind, origin="local",
                      revision=_revision_from_path(local))
    if not looks_like_hub_id(spec) or os.path.isabs(spec):
        raise BadInput(f"{spec!r} is neither an existing file or folder nor a Hugging Face model id "
                       "(owner/name)", field=field, node=node)

    repo_id, inner, revision = split_hub_spec(spec)
    offline = offline_mode()
    is_file = inner is not None and inner.lower().endswith(WEIGHT_SUFFIXES + (".json",))
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import (EntryNotFoundError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    tqdm_class = make_tqdm_class(_download_progress(ctx, spec, progress_span))
    if ctx is not None:
        ctx.progress(progress_span[0], f"{'looking up' if offline else 'fetching'} {spec}")
    try:
        if is_file:
            path = Path(hf_hub_download(repo_id, inner, revision=revision, local_files_only=offline,
                                        cache_dir=cache_dir, tqdm_class=tqdm_class))
            kind = "file"
        else:
            patterns = allow_patterns
            if inner is not None:  # one folder of the repository, with everything in it
                patterns = [f"{inner.strip('/')}/*"]
            folder = Path(snapshot_download(repo_id, revision=revision, local_files_only=offline,
                                            allow_patterns=patterns, ignore_patterns=ignore_patterns,
                                            cache_dir=cache_dir, tqdm_class=tqdm_class))
            path = folder / inner if inner else folder
            kind = "folder"
            if not path.exists():
                raise BadInput(f"{spec!r}: the hub repository has no {inner!r}", field=field, node=node)
    except (LocalEntryNotFoundError, FileNotFoundError) as error:
        if offline:
            raise BadInput(
                f"{spec!r} is not in the local Hugging Face cache and downloads are switched off "
                "(HF_HUB_OFFLINE=1). Download it once with network access (unset HF_HUB_OFFLINE), "
                "or give a local diffusers folder or .safetensors file instead.",
                field=field, node=node) from None
        raise NodeFailure(f"could not download {spec!r}: {error}. Check the network connection, "
                          "or give a local folder or file.", node=node) from None
    except RepositoryNotFoundError:
        raise BadInput(f"{spec!r}: no such model on the Hugging Face hub (or it is private and "
                       "no token is set up)", field=field, node=node) from None
    except RevisionNotFoundError:
        raise BadInput(f"{spec!r}: revision {revision!r} not found", field=field, node=node) from None
    except EntryNotFoundError:
        raise BadInput(f"{spec!r}: file {inner!r} not found in {repo_id}", field=field, node=node) from None
    if want != "any" and kind != want:
        raise BadInput(f"{spec!r} is a {kind}; a {want} is needed here", field=field, node=node)
    return Source(spec=spec, path=path, kind=kind, origin="hub", repo_id=repo_id,
                  revision=_revision_from_path(path) or revision)


def fingerprint(source: Source) -> str:
    """A cheap content fingerprint for metadata: config files' bytes plus the
    names and sizes of weight files (or a safetensors header). Not a full hash."""
    digest = hashlib.sha256()
    path = source.path
    if path.is_file():
        digest.update(path.name.encode())
        digest.update(str(path.stat().st_size).encode())
        if weight_format(path) == "safetensors":
            with open(path, "rb") as handle:
                header_len = int.from_bytes(handle.read(8), "little")
                digest.update(handle.read(min(header_len, 1 << 24)))
    else:
        for file in sorted(path.rglob("*")):
            if not file.is_file():
                continue
            relative = file.relative_to(path).as_posix()
            digest.update(relative.encode())
            if file.suffix in (".json", ".txt") and file.stat().st_size < (1 << 20):
                digest.update(file.read_bytes())
            else:
                digest.update(str(file.stat().st_size).encode())
    return digest.hexdigest()[:16]


def read_model_index(folder: Path) -> dict:
    index = folder / "model_index.json"
    if index.is_file():
        try:
            return json.loads(index.read_text())
        except (OSError, ValueError):
            return {}
    return {}


# ---------------------------------------------------------------------------
# The cache of loaded pipelines


def _torch_modules(obj: Any) -> list[Any]:
    """The torch modules `obj` holds: itself, a pipeline's components, or a
    Bundle's pipeline and its derived pipelines (img2img, ...; they share
    components, which `module_bytes_by_device` counts once)."""
    if hasattr(obj, "parameters") and callable(getattr(obj, "parameters")):
        return [obj]
    modules: list[Any] = []
    pipelines = [obj]
    if hasattr(obj, "pipe"):  # a Bundle
        pipelines = [obj.pipe, *getattr(obj, "extras", {}).values()]
    for pipeline in pipelines:
        components = getattr(pipeline, "components", None)
        if isinstance(components, dict):
            modules += [m for m in components.values() if hasattr(m, "parameters")]
        elif hasattr(pipeline, "parameters") and pipeline is not obj:
            modules.append(pipeline)
    return modules


def module_bytes_by_device(obj: Any) -> dict[str, int]:
    """Parameter + buffer bytes of every torch module `obj` holds, by device
    type ("cuda", "cpu", "mps", ...). A tensor shared between modules counts once."""
    seen: set[int] = set()
    by_device: dict[str, int] = {}
    for module in _torch_modules(obj):
        tensors = list(module.parameters())
        if hasattr(module, "buffers"):
            tensors += list(module.buffers())
        for tensor in tensors:
            key = tensor.data_ptr() if hasattr(tensor, "data_ptr") else id(tensor)
            if key in seen:
                continue
            seen.add(key)
            device = getattr(getattr(tensor, "device", None), "type", "cpu")
            by_device[device] = by_device.get(device, 0) + tensor.numel() * tensor.element_size()
    return by_device


def module_bytes(obj: Any) -> int:
    """Parameter + buffer bytes of a torch module, a pipeline's modules or a Bundle's."""
    return sum(module_bytes_by_device(obj).values())


def device_kind(device: str) -> str:
    """"cuda:1" -> "cuda": budgets and sizes are kept per kind of memory."""
    return str(device).split(":", 1)[0]


def free_device_bytes(device: str) -> int | None:
    """Free memory on a CUDA card: what the driver reports free plus what
    torch's caching allocator holds unused (a new load reuses it); None elsewhere."""
    if not device.startswith("cuda"):
        return None
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    try:
        card = torch.device(device)
        free, _total = torch.cuda.mem_get_info(card)
        return int(free) + int(torch.cuda.memory_reserved(card) - torch.cuda.memory_allocated(card))
    except Exception:  # pragma: no cover - driver without the query
        return None


def default_budget_bytes(device: str = "cpu") -> int:
    """CANVAS_APP_MODEL_BUDGET_GB if set; else 75% of the GPU's memory on cuda,
    or half the machine's RAM otherwise."""
    env = os.environ.get("CANVAS_APP_MODEL_BUDGET_GB")
    if env:
        try:
            return int(float(env) * (1 << 30))
        except ValueError:
            pass
    if device.startswith("cuda"):
        try:
            import torch

            return int(torch.cuda.get_device_properties(torch.device(device)).total_memory * 0.75)
        except Exception:
            pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.5)
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 16 << 30


@dataclass
class Entry:
    key: Hashable
    value: Any
    size_bytes: int  # all devices together
    device: str
    loaded_at: float = field(default_factory=time.time)
    uses: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)  # held while rendering
    extras: dict = field(default_factory=dict)  # derived pipelines (img2img, ...) sharing components
    device_bytes: dict = field(default_factory=dict)  # "cuda" / "cpu" / ... -> bytes held there


class ModelManager:
    """Loads each pipeline once per key and shares it; evicts the least
    recently used when a device's share exceeds its budget, or when a new load
    would not fit.

    `get(key, loader, device=...)` returns an `Entry`; `loader()` must return
    the loaded object. Concurrent `get`s of the same key load once. Callers
    hold `entry.lock` while they use the pipeline.

    Sizes are the parameters and buffers of every torch module an entry holds,
    by device (a model offloaded to the CPU counts against the CPU's budget).
    The budget (explicit, or `default_budget_bytes` per device) applies to each
    kind of device separately.
    """

    def __init__(self, budget_bytes: int | None = None) -> None:
        self._budget = budget_bytes
        self._entries: "OrderedDict[Hashable, Entry]" = OrderedDict()
        self._lock = threading.RLock()
        self._loading: dict[Hashable, threading.Lock] = {}
        self.load_count = 0  # how many times a loader actually ran (for tests and stats)
        self.evictions: list[Hashable] = []

    # -- budget -----------------------------------------------------------
    @property
    def budget_bytes(self) -> int:
        return self._budget if self._budget is not None else default_budget_bytes(self._main_device())

    @budget_bytes.setter
    def budget_bytes(self, value: int | None) -> None:
        self._budget = value
        self._evict_over_budget(keep=None)

    def budget_for(self, device: str) -> int:
        """The budget of one kind of device: the explicit one, or its default."""
        return self._budget if self._budget is not None else default_budget_bytes(device)

    def _main_device(self) -> str:
        with self._lock:
            for entry in self._entries.values():
                if entry.device.startswith("cuda"):
                    return entry.device
        return "cpu"

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return sum(entry.size_bytes for entry in self._entries.values())

    def bytes_on(self, device: str) -> int:
        """What the cached entries hold on one kind of device ("cuda", "cpu", ...)."""
        kind = device_kind(device)
        with self._lock:
            return sum(entry.device_bytes.get(kind, 0) for entry in self._entries.values())

    def bytes_by_device(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        with self._lock:
            for entry in self._entries.values():
                for kind, size in entry.device_bytes.items():
                    totals[kind] = totals.get(kind, 0) + size
        return totals

    # -- access -----------------------------------------------------------
    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def peek(self, key: Hashable) -> Entry | None:
        with self._lock:
            return self._entries.get(key)

    def get(self, key: Hashable, loader: Callable[[], Any], *, device: str = "cpu",
            size_of: Callable[[Any], int] | None = None, expected_bytes: int | None = None) -> Entry:
        """The entry for `key`, loading it with `loader()` when it is not cached.

        expected_bytes: what the load will roughly take on `device`; least
        recently used entries are unloaded first when it would not fit.
        size_of: how big a loaded value is (all on `device`); by default its
        torch modules are measured, device by device."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                entry.uses += 1
                return entry
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:  # someone else may have loaded it meanwhile
                entry = self._entries.get(key)
                if entry is not None:
                    self._entries.move_to_end(key)
                    entry.uses += 1
                    return entry
            if expected_bytes:
                self.make_room(device, int(expected_bytes))
            value = loader()
            if size_of is not None:
                device_bytes = {device_kind(device): int(size_of(value))}
            else:
                device_bytes = module_bytes_by_device(value)
            entry = Entry(key=key, value=value, size_bytes=sum(device_bytes.values()), device=device,
                          uses=1, device_bytes=device_bytes)
            with self._lock:
                self.load_count += 1
                self._entries[key] = entry
                self._loading.pop(key, None)
            self._evict_over_budget(keep=key)
            return entry

    # -- eviction ---------------------------------------------------------
    def unload(self, key: Hashable) -> bool:
        with self._lock:
            entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self._release(entry)
        return True

    def unload_all(self) -> None:
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
        for entry in entries:
            self._release(entry)

    def unload_others(self, keep: Hashable, device: str | None = None) -> list[Hashable]:
        """Unload every entry but `keep` (those holding memory on `device` when
        given), least recently used first: what an out-of-memory retry frees."""
        kind = device_kind(device) if device else None
        with self._lock:
            victims = [key for key, entry in self._entries.items()
                       if key != keep and (kind is None or entry.device_bytes.get(kind, 0) > 0
                                           or device_kind(entry.device) == kind)]
        for key in victims:
            if self.unload(key):
                with self._lock:
                    self.evictions.append(key)
        return victims

    def make_room(self, device: str, needed_bytes: int, keep: Hashable | None = None) -> list[Hashable]:
        """Unload least recently used entries holding memory on `device` until
        `needed_bytes` more fit its budget and, on a CUDA card, its free memory.
        Returns the keys unloaded."""
        kind = device_kind(device)
        budget = self.budget_for(device)
        evicted: list[Hashable] = []
        while True:
            free = free_device_bytes(device)
            fits_budget = self.bytes_on(kind) + needed_bytes <= budget
            fits_card = free is None or free >= needed_bytes
            if fits_budget and fits_card:
                return evicted
            with self._lock:
                victim = next((k for k, e in self._entries.items()
                               if k != keep and e.device_bytes.get(kind, 0) > 0), None)
                if victim is None:
                    return evicted
                entry = self._entries.pop(victim)
                self.evictions.append(victim)
            evicted.append(victim)
            self._release(entry)

    def _evict_over_budget(self, keep: Hashable | None) -> None:
        for kind in list(self.bytes_by_device()):
            budget = self.budget_for(kind)
            while True:
                with self._lock:
                    if self.bytes_on(kind) <= budget:
                        break
                    victim = next((k for k, e in self._entries.items()
                                   if k != keep and e.device_bytes.get(kind, 0) > 0), None)
                    if victim is None:
                        break
                    entry = self._entries.pop(victim)
                    self.evictions.append(victim)
                self._release(entry)

    @staticmethod
    def _release(entry: Entry) -> None:
        # Wait for a render that uses it to finish, then drop our references.
        with entry.lock:
            entry.extras.clear()
            entry.value = None
        import gc

        gc.collect()
        try:
            import sys

            torch = sys.modules.get("torch")
            if torch is not None and entry.device.startswith("cuda") and torch.cuda.is_available():
                torch.cuda.empty_cache()
            elif torch is not None and entry.device == "mps" and hasattr(torch, "mps"):
                torch.mps.empty_cache()
        except Exception:  # pragma: no cover - best effort
            pass


model_manager = ModelManager()


def get_model_manager() -> ModelManager:
    return model_manager
