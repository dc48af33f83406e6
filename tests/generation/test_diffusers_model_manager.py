"""ModelManager caching/eviction, model source resolution and step previews:
fast unit tests with no diffusers pipelines."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from canvas_app.engine.context import Cancelled, RunContext
from canvas_app.errors import BadInput
from canvas_app.generation.model_manager import (
    ModelManager, make_tqdm_class, looks_like_hub_id, resolve_source, split_hub_spec)
from canvas_app.generation.previews import StepCallback, latents_to_rgb


class Thing:
    def __init__(self, name, size):
        self.name, self.size = name, size


def size_of(thing):
    return thing.size


def test_loads_once_and_shares():
    manager = ModelManager(budget_bytes=100)
    calls = []
    loader = lambda: calls.append(1) or Thing("a", 10)  # noqa: E731
    first = manager.get(("a",), loader, size_of=size_of)
    second = manager.get(("a",), loader, size_of=size_of)
    assert first is second and calls == [1] and manager.load_count == 1 and second.uses == 2


class CountingKey:
    """A cache key that counts its lookups. Each get() looks a key up twice
    before it waits for (or starts) the load, and the loading thread once
    more, so `all_waiting` is set exactly when every caller is inside get()."""

    def __init__(self, callers: int) -> None:
        self.needed = 2 * callers + 1
        self.count = 0
        self._lock = threading.Lock()
        self.all_waiting = threading.Event()

    def __hash__(self) -> int:
        with self._lock:
            self.count += 1
            if self.count >= self.needed:
                self.all_waiting.set()
        return 1

    def __eq__(self, other) -> bool:
        return self is other


def test_concurrent_gets_load_once():
    manager = ModelManager(budget_bytes=100)
    calls = []
    key = CountingKey(callers=4)

    def loader():  # holds the load until the other three callers wait for it
        calls.append(1)
        assert key.all_waiting.wait(10)
        return Thing("a", 10)

    results = []
    threads = [threading.Thread(target=lambda: results.append(manager.get(key, loader, size_of=size_of)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1 and len(results) == 4


def test_least_recently_used_is_evicted_over_budget():
    manager = ModelManager(budget_bytes=25)
    manager.get("a", lambda: Thing("a", 10), size_of=size_of)
    manager.get("b", lambda: Thing("b", 10), size_of=size_of)
    manager.get("a", lambda: Thing("a", 10), size_of=size_of)  # a is now the most recent
    entry_b = manager.peek("b")
    manager.get("c", lambda: Thing("c", 10), size_of=size_of)
    assert manager.keys() == ["a", "c"] and manager.evictions == ["b"]
    assert entry_b.value is None  # released
    # A single entry larger than the budget stays (it is the one in use).
    manager.get("huge", lambda: Thing("huge", 100), size_of=size_of)
    assert manager.keys() == ["huge"]
    manager.budget_bytes = 1000
    manager.unload_all()
    assert manager.keys() == [] and manager.total_bytes == 0


class WatchedLock:
    """A re-entrant lock that says when another thread is blocked on it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.contended = threading.Event()

    def __enter__(self):
        if not self._lock.acquire(blocking=False):
            self.contended.set()
            self._lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()


def test_unload_waits_for_a_render_in_progress():
    manager = ModelManager(budget_bytes=100)
    entry = manager.get("a", lambda: Thing("a", 10), size_of=size_of)
    entry.lock = WatchedLock()
    released = threading.Event()
    with entry.lock:  # a render holds the pipeline
        thread = threading.Thread(target=lambda: (manager.unload("a"), released.set()))
        thread.start()
        assert entry.lock.contended.wait(10)  # unload is now waiting for the render
        assert entry.value is not None and not released.is_set()
    thread.join()
    assert released.is_set() and entry.value is None


def test_module_bytes_counts_torch_parameters():
    torch = pytest.importorskip("torch")
    from canvas_app.generation.model_manager import module_bytes

    layer = torch.nn.Linear(10, 10)
    assert module_bytes(layer) == (100 + 10) * 4


def test_hub_spec_parsing():
    assert split_hub_spec("h94/IP-Adapter-FaceID/ip-adapter-faceid_sd15.bin") == \
        ("h94/IP-Adapter-FaceID", "ip-adapter-faceid_sd15.bin", None)
    assert split_hub_spec("owner/name@abc123") == ("owner/name", None, "abc123")
    assert split_hub_spec("h94/IP-Adapter/models/image_encoder") == ("h94/IP-Adapter", "models/image_encoder", None)
    assert looks_like_hub_id("stable-diffusion-v1-5/stable-diffusion-v1-5")
    assert not looks_like_hub_id("./models/x") and not looks_like_hub_id("plainname")


def test_local_sources(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model_index.json").write_text("{}")
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"x")
    assert resolve_source(str(folder), field="model").kind == "folder"
    assert resolve_source(str(weights), field="model").kind == "file"
    with pytest.raises(BadInput) as error:
        resolve_source(str(weights), field="image_encoder", want="folder")
    assert error.value.field == "image_encoder"
    with pytest.raises(BadInput) as error:
        resolve_source(str(tmp_path / "missing"), field="model")
    assert "neither an existing file" in str(error.value)


def test_offline_adapter_file_not_cached(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(BadInput) as error:
        resolve_source("h94/IP-Adapter-FaceID/ip-adapter-faceid_sd15.bin", field="faceid_adapter")
    assert error.value.field == "faceid_adapter" and "HF_HUB_OFFLINE" in str(error.value)


def test_download_progress_reaches_ctx_and_cancels():
    seen = []
    cls = make_tqdm_class(lambda done, total, desc: seen.append((done, total)))
    bar = cls(total=200, unit="B", desc="Downloading bytes")
    bar.update(50)
    bar.update(150)
    bar.close()
    files = cls(total=3, desc="Fetching 3 files")  # file counts are not bytes: ignored
    files.update(1)
    files.close()
    assert seen == [(50, 200), (200, 200)]

    from canvas_app.generation.model_manager import _download_progress

    progress = []
    ctx = RunContext(on_progress=lambda fraction, message: progress.append((fraction, message)))
    report = _download_progress(ctx, "owner/model", (0.0, 0.1))
    report(500_000_000, 1_000_000_000, "")
    assert progress and abs(progress[-1][0] - 0.05) < 1e-9 and "500/1000 MB" in progress[-1][1]
    ctx.cancel_token.cancel()
    with pytest.raises(Cancelled):
        report(1_000_000_000, 1_000_000_000, "")


def test_latents_to_rgb_shapes():
    latents = np.random.default_rng(0).standard_normal((1, 4, 8, 8)).astype(np.float32)
    rgb = latents_to_rgb(latents, "sd15", size=(64, 64))
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
    video = np.random.default_rng(0).standard_normal((1, 4, 5, 8, 6)).astype(np.float32)
    assert latents_to_rgb(video, "sdxl", size=(50, 60)).shape == (60, 50, 3)
    torch = pytest.importorskip("torch")
    assert latents_to_rgb(torch.from_numpy(latents).half(), "sd15").shape == (8, 8, 3)


def test_step_callback_throttles_and_cancels():
    clock = [0.0]
    previews = []
    ctx = RunContext(on_preview=lambda frame, kind: previews.append(kind))
    callback = StepCallback(ctx, 10, min_interval=0.25, clock=lambda: clock[0])
    latents = np.zeros((1, 4, 4, 4), np.float32)

    class Pipe:
        _interrupt = False

    pipe = Pipe()
    for step in range(10):
        clock[0] += 0.1  # 0.1 s per step: at most every third step gets a preview
        callback(pipe, step, 0, {"latents": latents})
    assert 3 <= len(previews) <= 5 and callback.previews_sent == len(previews)
    ctx.cancel_token.cancel()
    with pytest.raises(Cancelled):
        callback(pipe, 3, 0, {"latents": latents})
    assert pipe._interrupt is True
