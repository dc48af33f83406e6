"""GPU smoke test: the diffusers backend on the real checkpoints, step by step.

On a CUDA machine with the weights in the Hugging Face cache (see the README's
GPU section and `canvas-app doctor`), in order:

 1. sd15_faceid_fp16      SD 1.5 still in fp16 with FaceID; the buffalo_l score of the
                          shot beats the same seed without FaceID by more than 0.1
 2. faceid_and_image      FaceID plus the image adapter with an environment reference
 3. img2img_continuity    img2img from shot 1's last frame with dpm++2m_karras
 4. cancel_then_clean     cancel at step 2, then a clean render on the same pipeline
 5. animatediff_16        AnimateDiff, 16 frames
 6. video2video           video-to-video continuity from clip 5
 7. frames_40             40 frames (FreeNoise past the adapter's 32)
 8. offload_tiling        model CPU offload with VAE tiling
 9. single_file           a single-file checkpoint with model_config
10. sdxl_1024             SDXL at 1024x1024 with FaceID
11. sdxl_motion_fp16      SDXL AnimateDiff in fp16: the clip decodes (upstream's partial
                          VAE upcast fails there)
12. frames_40_gpu_generator 40 frames with the pipeline on the GPU (no offload): the
                          generator that reaches FreeNoise's randperm is a CPU one. On the
                          CPU the bundle is told it is on "cuda" and torch.Generator records
                          the device asked for, so the check runs without a GPU too.
13. eviction_under_cap    a memory cap of 1.5 pipelines: a shot with other weights unloads
                          the least recently used pipeline, and what is held stays under it

Then, with `--tiny` (or `--families` on a real run), a step per two-stage family from
benchmarks/video_models_smoke.py: flux2_klein_keyframe, flux2_klein_cancel,
wan22_continuity, wan22_offload_fp8, ltx2_sound, qwen_edit_keyframe, qwen_edit_quantized.

Each step prints one JSON line: PASS/FAIL, seconds, peak memory, and where it
applies the overhead against a bare pipeline call on the same seed. The exit
code is the number of failures. Without CUDA or the weights it says what is
missing and exits 0.

`--tiny` runs every step on the tiny random-weight test models (small sizes,
2 steps) on the CPU, or with `--device cuda` on the GPU in fp16 with CUDA
generators, so CI proves the script itself works; likeness is then checked as
"FaceID changes the picture", since random weights draw no face.

    python benchmarks/gpu_smoke.py [--tiny [--device cuda]] [--families] [--face FACE.jpg] [--checkpoint FILE.safetensors]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "generation"))

SD15 = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SDXL = "stabilityai/stable-diffusion-xl-base-1.0"


class Setup:
    """Models, identity and sizes for one run (real or tiny)."""

    def __init__(self, tiny: bool, args: argparse.Namespace) -> None:
        self.tiny = tiny
        self.device = getattr(args, "device", None) or ("cpu" if tiny else "cuda")
        self.size = 32 if tiny else 512
        self.xl_size = 32 if tiny else 1024
        self.steps = 2 if tiny else 25
        self.options: dict[str, Any] = {"preview_interval": 0.0 if tiny else 0.5}
        self.xl_options: dict[str, Any] = {"model": SDXL}
        self.xl_motion_adapter = "auto"
        self.single_file: dict[str, Any] | None = None
        self.scorer: Callable[[Any], float] | None = None
        if tiny:
            self._tiny()
            if self.device.startswith("cuda"):  # as a user's GPU runs: fp16
                self.options["dtype"] = "fp16"
                self.xl_options["dtype"] = "fp16"
        else:
            self._real(args)

    def _tiny(self) -> None:
        import tiny_models as tm

        root = Path(tempfile.mkdtemp(prefix="gpu-smoke-tiny-"))
        paths = tm.build_all(root)
        self.options.update(model=str(paths["model"]), faceid_adapter=str(paths["faceid"]),
                            image_adapter=str(paths["image_adapter"]), image_encoder=str(paths["image_encoder"]),
                            motion_adapter=str(paths["motion"]))
        xl = tm.build_sdxl(root / "xl")
        self.xl_options = {"model": str(xl["model"]), "image_adapter": "auto", "image_encoder": "auto",
                           "motion_adapter": "auto", "faceid_adapter": str(xl["faceid"])}
        self.xl_motion_adapter = str(xl["motion"])
        self.identity = tm.tiny_identity(0)

    def _real(self, args: argparse.Namespace) -> None:
        from canvas_app.identity.build import build_identity
        from canvas_app.identity.encoders import embed_face, get_encoder, similarity
        from canvas_app.media.images import load_reference

        self.options.update(model=SD15, dtype="fp16")
        self.xl_options.update(dtype="fp16")
        if args.checkpoint:
            self.single_file = {"model": args.checkpoint, "model_config": SD15, "dtype": "fp16"}
        self.identity = build_identity("smoke", [load_reference(args.face, "face")],
                                       encoders=("insightface/buffalo_l", "dlib"))
        encoder = get_encoder("insightface/buffalo_l")
        target = self.identity.embeddings["insightface/buffalo_l"]

        def score(frame) -> float:
            faces = encoder.detect(frame)
            if not faces:
                return 0.0
            face = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
            return float(similarity("insightface/buffalo_l", embed_face(encoder, frame, face), target))

        self.scorer = score


def missing_for_real_run(args: argparse.Namespace) -> list[str]:
    """What stops a real run here: no CUDA, no face image, weights not cached."""
    import torch

    from canvas_app.doctor import ModelCheck, check_face_packs, locate
    from canvas_app.generation.diffusers.options import DEFAULT_ADAPTERS

    missing = []
    if not torch.cuda.is_available():
        missing.append("a CUDA GPU (torch.cuda.is_available() is False)")
    if not args.face or not Path(args.face).is_file():
        missing.append("--face FACE.jpg: a photo of one person's face to lock and score")
    if "buffalo_l" not in check_face_packs()["installed"]:
        missing.append("the buffalo_l face pack: canvas-app identity download-pack buffalo_l "
                       "--accept-non-commercial-license (non-commercial research licence)")
    wanted = [("model", SD15), ("model", SDXL)] + [
        (field, spec) for kind in ("sd15", "sdxl") for field, spec in DEFAULT_ADAPTERS[kind].items()]
    for field, spec in dict.fromkeys(wanted):
        check = locate(ModelCheck(field=field, spec=spec))
        if not check.present:
            missing.append(f"{spec}: {check.fix}")
    return missing


def _peak_reset(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def _peak(device: str) -> dict[str, int]:
    if device == "cuda":
        import torch

        return {"peak_gpu_bytes": int(torch.cuda.max_memory_allocated())}
    return {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


class Smoke:
    def __init__(self, setup: Setup) -> None:
        from canvas_app.generation.diffusers.backend import DiffusersBackend
        from canvas_app.generation.model_manager import ModelManager

        self.setup = setup
        self.backend = DiffusersBackend(manager=ModelManager())
        self.clips: dict[str, Any] = {}

    def request(self, *, options: dict | None = None, size: int | None = None, duration: float = 0.5,
                fps: float = 4.0, seed: int = 7, references=(), previous=None, **extra):
        from canvas_app.generation.base import ShotRequest
        from canvas_app.values import ShotPrompt

        opts = dict(self.setup.options if options is None else options)
        opts.setdefault("steps", self.setup.steps)
        opts.update(extra)
        side = size or self.setup.size
        return ShotRequest(identity=self.setup.identity,
                           prompt=ShotPrompt(positive="a portrait photo of a person, natural light",
                                             duration=duration),
                           references=list(references), width=side, height=side, fps=fps, seed=seed,
                           device=self.setup.device, options=opts, previous_clip=previous)

    def render(self, request, ctx=None):
        from canvas_app.engine.context import RunContext

        return self.backend.render(request, ctx or RunContext())

    def _differs(self, a, b) -> float:
        import numpy as np

        return float(np.abs(a.frames[0].astype(int) - b.frames[0]).mean())

    # -- the steps: each returns (passed, details) -------------------------------------
    def sd15_faceid_fp16(self):
        # FaceID alone (no image adapter), so that the bare call below has the same inputs.
        on = self.render(self.request(identity_strength=0.8, image_adapter="none"))
        off = self.render(self.request(identity_strength=0.0, image_adapter="none"))
        self.clips["still"] = on
        details = {"pipeline": on.metadata["pipeline"], "dtype": on.metadata["dtype"],
                   "overhead_pct": self._overhead(on)}
        if self.setup.scorer is not None:
            details["score_faceid"] = round(self.setup.scorer(on.frames[0]), 4)
            details["score_without"] = round(self.setup.scorer(off.frames[0]), 4)
            return details["score_faceid"] - details["score_without"] > 0.1, details
        details["faceid_pixel_change"] = round(self._differs(on, off), 3)
        return details["faceid_pixel_change"] > 1.0, details

    def _overhead(self, clip) -> float:
        """The backend's render time against a bare pipeline call on the same
        loaded pipeline, seed and embeddings (percent)."""
        import torch

        from canvas_app.generation.diffusers.faces import face_embeddings, faceid_embeds
        from canvas_app.generation.diffusers.metadata import compose_prompt
        from canvas_app.values import ShotPrompt

        pipe = self._faceid_only_bundle().value.pipe
        prompt, _ = compose_prompt(ShotPrompt(positive="a portrait photo of a person, natural light"))
        embeds = [faceid_embeds(face_embeddings(self.setup.identity), do_cfg=True, dtype=pipe.unet.dtype,
                                device=pipe.unet.device)]
        side = self.setup.size

        def bare_call():
            with torch.inference_mode():
                pipe(prompt=prompt, height=side, width=side, num_inference_steps=self.setup.steps,
                     guidance_scale=7.0, generator=torch.Generator(self.setup.device).manual_seed(7),
                     ip_adapter_image_embeds=embeds, output_type="np")

        def ours_call():
            self.render(self.request(identity_strength=0.8, image_adapter="none"))

        times = {}
        for name, call in (("bare", bare_call), ("ours", ours_call)) * 2:  # interleaved, best of 2
            started = time.perf_counter()
            call()
            if self.setup.device == "cuda":
                torch.cuda.synchronize()
            times[name] = min(times.get(name, float("inf")), time.perf_counter() - started)
        return round(100.0 * (times["ours"] - times["bare"]) / times["bare"], 1)

    def _motion_size(self) -> int:
        return 16 if self.setup.tiny else self.setup.size

    def _faceid_only_bundle(self):
        manager = self.backend.manager
        return next(manager.peek(key) for key in manager.keys()
                    if manager.peek(key).value.adapters == ["faceid"] and not manager.peek(key).value.motion)

    def faceid_and_image(self):
        import numpy as np

        from canvas_app.values import RefImage

        ramp = np.linspace(0, 255, 64 * 64 * 3).reshape(64, 64, 3).astype(np.uint8)
        room = RefImage(path=Path("room.png"), role="environment", pixels=ramp, sha256="0" * 64)
        with_ref = self.render(self.request(references=[room], reference_strength=0.6))
        plain = self.clips["still"]
        details = {"adapters": with_ref.metadata.get("adapter_scales"),
                   "reference_change": round(self._differs(with_ref, plain), 3)}
        return len(with_ref.metadata["adapter_scales"]) == 2 and details["reference_change"] > 0.5, details

    def img2img_continuity(self):
        clip = self.render(self.request(previous=self.clips["still"], continuity_strength=0.5,
                                        scheduler="dpm++2m_karras"))
        details = {"pipeline": clip.metadata["pipeline"], "scheduler": clip.metadata["scheduler"],
                   "img2img_strength": clip.metadata["img2img_strength"]}
        return "Img2Img" in clip.metadata["pipeline"] and clip.metadata["img2img_strength"] == 0.5, details

    def cancel_then_clean(self):
        from canvas_app.engine.context import Cancelled, RunContext

        entry = self._faceid_only_bundle()
        ctx, calls = RunContext(), []

        def on_unet(module, args, output):
            calls.append(1)
            if len(calls) == 2:
                ctx.cancel_token.cancel()

        hook = entry.value.pipe.unet.register_forward_hook(on_unet)
        cancelled = False
        try:
            self.render(self.request(steps=max(10, self.setup.steps), image_adapter="none"), ctx)
        except Cancelled:
            cancelled = True
        finally:
            hook.remove()
        clean = self.render(self.request(image_adapter="none"))
        return cancelled and len(calls) == 2 and len(clean.frames) >= 1, {"unet_calls": len(calls)}

    def animatediff_16(self):
        clip = self.render(self.request(motion=True, duration=16 / 8.0, fps=8.0, max_frames=16,
                                        size=self._motion_size()))
        self.clips["motion"] = clip
        details = {"frames_rendered": clip.metadata["frames_rendered"], "scheduler": clip.metadata["scheduler"]}
        return clip.metadata["frames_rendered"] == 16 and clip.metadata["pipeline"] == "AnimateDiffPipeline", details

    def video2video(self):
        clip = self.render(self.request(motion=True, duration=16 / 8.0, fps=8.0, max_frames=16,
                                        size=self._motion_size(), previous=self.clips["motion"],
                                        continuity_strength=0.4))
        return clip.metadata["pipeline"] == "AnimateDiffVideoToVideoPipeline", {
            "pipeline": clip.metadata["pipeline"]}

    def frames_40(self):
        clip = self.render(self.request(motion=True, duration=5.0, fps=8.0, max_frames=40,
                                        size=self._motion_size()))
        details = {"frames_rendered": clip.metadata["frames_rendered"],
                   "long_clip": clip.metadata["motion_long_clip"]}
        return clip.metadata["frames_rendered"] == 40 and len(clip.frames) == 40, details

    def offload_tiling(self):
        clip = self.render(self.request(cpu_offload=True, vae_tiling=True))
        expected = self.setup.device == "cuda"  # offload is CUDA-only; on the CPU it is ignored
        return bool(clip.metadata["cpu_offload"]) == expected and clip.metadata["vae_tiling"], {
            "cpu_offload": clip.metadata["cpu_offload"]}

    def single_file(self):
        if self.setup.single_file is None:
            return None, {"skipped": "no single-file checkpoint: pass --checkpoint FILE.safetensors"
                          if not self.setup.tiny else "the tiny models have no single-file checkpoint"}
        clip = self.render(self.request(options={**self.setup.options, **self.setup.single_file}))
        return clip.metadata["model_kind"] == "sd15", {"model_kind": clip.metadata["model_kind"]}

    def sdxl_1024(self):
        clip = self.render(self.request(options={**self.setup.options, **self.setup.xl_options},
                                        size=self.setup.xl_size))
        return clip.metadata["model_kind"] == "sdxl" and clip.frames[0].shape[0] == self.setup.xl_size, {
            "pipeline": clip.metadata["pipeline"]}

    def sdxl_motion_fp16(self):
        frames = 4 if self.setup.tiny else 8
        options = {**self.setup.options, **self.setup.xl_options, "motion": True,
                   "motion_adapter": self.setup.xl_motion_adapter, "max_frames": frames}
        clip = self.render(self.request(options=options, size=self.setup.xl_size, duration=frames / 8.0, fps=8.0))
        details = {"pipeline": clip.metadata["pipeline"], "dtype": clip.metadata["dtype"],
                   "frames_rendered": clip.metadata["frames_rendered"],
                   "frame_std": round(float(clip.frames[0].std()), 2)}
        return (clip.metadata["pipeline"] == "AnimateDiffSDXLPipeline" and clip.metadata["frames_rendered"] == frames
                and details["frame_std"] > 1.0), details

    def frames_40_gpu_generator(self):
        import torch
        from diffusers import AnimateDiffPipeline

        reached: list[str] = []
        original = AnimateDiffPipeline._prepare_latents_free_noise

        def spy(pipe, *args, **kwargs):
            generator = kwargs.get("generator", args[7] if len(args) > 7 else None)
            reached.append(getattr(generator, "asked_device", None) or generator.device.type)
            return original(pipe, *args, **kwargs)

        class RecordingGenerator(torch.Generator):  # on the CPU: asked for "cuda", made on the CPU
            def __new__(cls, device="cpu"):
                generator = super().__new__(cls, device="cpu")
                generator.asked_device = torch.device(device).type
                return generator

        request = self.request(motion=True, duration=5.0, fps=8.0, max_frames=40, size=self._motion_size(),
                               cpu_offload=False)
        on_gpu = self.setup.device.startswith("cuda")
        pretend = None
        if not on_gpu:  # load on the CPU, then tell the bundle it is on the GPU
            self.render(self.request(motion=True, duration=0.5, size=self._motion_size()))
            pretend = next(self.backend.manager.peek(key).value for key in self.backend.manager.keys()
                           if self.backend.manager.peek(key).value.motion)
            pretend.device = "cuda"
        real_generator = torch.Generator
        AnimateDiffPipeline._prepare_latents_free_noise = spy
        if pretend is not None:
            torch.Generator = RecordingGenerator
        try:
            clip = self.render(request)
        finally:
            AnimateDiffPipeline._prepare_latents_free_noise = original
            torch.Generator = real_generator
            if pretend is not None:
                pretend.device = "cpu"
        details = {"frames_rendered": clip.metadata["frames_rendered"], "free_noise_generator": sorted(set(reached)),
                   "pipeline_device": self.setup.device if on_gpu else "cuda (pretended on the CPU)"}
        return clip.metadata["frames_rendered"] == 40 and set(reached) == {"cpu"}, details

    def eviction_under_cap(self):
        manager = self.backend.manager
        kind = "cuda" if self.setup.device.startswith("cuda") else "cpu"
        largest = max(manager.peek(key).device_bytes.get(kind, 0) for key in manager.keys())
        previous_budget = manager._budget
        evictions_before = len(manager.evictions)
        cap = int(largest * 1.5)
        try:
            manager.budget_bytes = cap
            for index in range(2):  # two FaceID-only shots with other weights each: new cache keys
                weights = self._faceid_copy(index)
                self.render(self.request(faceid_adapter=weights, image_adapter="none"))
            held = manager.bytes_on(kind)
            details = {"cap_bytes": cap, "held_bytes": held, "cached": len(manager.keys()),
                       "evicted": len(manager.evictions) - evictions_before}
        finally:
            manager.budget_bytes = previous_budget
        return details["evicted"] >= 2 and held <= cap, details

    def _faceid_copy(self, index: int) -> str:
        """The FaceID weights under another name (a symlink: another cache key, same weights)."""
        from canvas_app.generation.model_manager import resolve_source

        source = resolve_source(self.setup.options.get("faceid_adapter") or
                                "h94/IP-Adapter-FaceID/ip-adapter-faceid_sd15.bin", field="faceid_adapter")
        folder = Path(tempfile.mkdtemp(prefix="gpu-smoke-weights-"))
        target = folder / f"copy{index}_{source.path.name}"
        target.symlink_to(source.path)
        return str(target)

    STEPS = ("sd15_faceid_fp16", "faceid_and_image", "img2img_continuity", "cancel_then_clean", "animatediff_16",
             "video2video", "frames_40", "offload_tiling", "single_file", "sdxl_1024", "sdxl_motion_fp16",
             "frames_40_gpu_generator", "eviction_under_cap")

    def run(self, only: list[str] | None = None) -> int:
        failures = 0
        for name in self.STEPS:
            if only and name not in only:
                continue
            _peak_reset(self.setup.device)
            started = time.perf_counter()
            try:
                passed, details = getattr(self, name)()
            except Exception as error:  # noqa: BLE001 - a smoke test reports and goes on
                passed, details = False, {"error": f"{type(error).__name__}: {error}"}
            status = "SKIP" if passed is None else "PASS" if passed else "FAIL"
            failures += status == "FAIL"
            print(json.dumps({"step": name, "status": status, "seconds": round(time.perf_counter() - started, 2),
                              **_peak(self.setup.device), **details}, default=str), flush=True)
        return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="every step on the tiny test models, on the CPU")
    parser.add_argument("--face", help="a photo of one face (real run)")
    parser.add_argument("--checkpoint", help="a single-file SD 1.5 checkpoint for step 9 (real run)")
    parser.add_argument("--only", nargs="*", help="run only these steps")
    parser.add_argument("--families", action="store_true",
                        help="real run: also the two-stage families (FLUX.2 klein, Qwen-Image-Edit, "
                             "Wan 2.2, LTX-2) on their weights; --tiny always runs them")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="with --tiny: where the tiny models run "
                        "(default cpu; cuda runs them in fp16 with CUDA generators)")
    args = parser.parse_args(argv)
    if args.tiny:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if args.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                print(json.dumps({"summary": True, "skipped": True, "missing": ["a CUDA GPU for --device cuda"]}),
                      flush=True)
                return 0
    else:
        missing = missing_for_real_run(args)
        if missing:
            print(json.dumps({"summary": True, "skipped": True, "missing": missing}), flush=True)
            for item in missing:
                print(f"missing: {item}", file=sys.stderr)
            return 0
    failures = Smoke(Setup(args.tiny, args)).run(args.only)
    if (args.tiny or args.families) and not args.only:
        # The two-stage families (FLUX.2 klein, Qwen-Image-Edit, Wan 2.2, LTX-2): their steps,
        # one JSON line each, from benchmarks/video_models_smoke.py.
        import video_models_smoke

        failures += video_models_smoke.main(
            (["--tiny"] if args.tiny else []) + (["--device", args.device] if args.device else []),
            summary=False)
    print(json.dumps({"summary": True, "failures": failures, "tiny": args.tiny}), flush=True)
    return failures


if __name__ == "__main__":
    sys.exit(main())
