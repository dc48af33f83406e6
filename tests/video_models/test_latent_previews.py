"""Step previews from flow-matching latents, and Stop through the pipeline's interrupt."""
import numpy as np
import pytest

from canvas_app.engine.context import Cancelled, RunContext
from canvas_app.generation.video_models.latent_previews import (FLUX2_BIAS, FLUX2_RGB, WAN21_BIAS,
                                                                WAN21_RGB, WAN22_BIAS, WAN22_RGB,
                                                                FlowStepCallback, flux2_grid,
                                                                latents_to_rgb)


def test_flux2_tokens_unpack_to_the_vae_channels_the_pipeline_packed():
    import torch
    from diffusers import Flux2KleinPipeline

    planes = torch.randn(1, 32, 6, 8)  # 32 VAE channels on a 6x8 latent grid
    tokens = Flux2KleinPipeline._pack_latents(Flux2KleinPipeline._patchify_latents(planes))
    assert tokens.shape == (1, 12, 128)
    assert np.allclose(flux2_grid(tokens.numpy(), (3, 4)), planes[0].numpy())


def test_published_factors_colour_a_flat_latent():
    tokens = np.zeros((1, 3, 128), np.float32)  # 3 tokens of 128 = 32 channels x 2 x 2
    tokens[0, :, 4 * 3:4 * 3 + 4] = 1.0  # VAE channel 3 (FLUX.2's brightest) set everywhere
    preview = latents_to_rgb(tokens, "flux2", (6, 2), grid=(1, 3))
    expected = np.clip((FLUX2_RGB[3] + FLUX2_BIAS + 1) * 127.5, 0, 255).astype(np.uint8)
    assert preview.shape == (2, 6, 3) and np.abs(preview[0, 0].astype(int) - expected).max() <= 1

    video = np.zeros((1, 16, 3, 2, 2), np.float32)
    video[0, 14, -1] = 1.0  # only the last latent frame is set: that is the one shown
    shown = latents_to_rgb(video, "wan21", (2, 2))
    expected = np.clip((WAN21_RGB[14] + WAN21_BIAS + 1) * 127.5, 0, 255).astype(np.uint8)
    assert np.abs(shown[0, 0].astype(int) - expected).max() <= 1


def test_wan22_ti2v_latents_get_their_own_published_colours():
    wan22 = np.zeros((1, 48, 2, 4, 4), np.float32)
    wan22[0, 39, -1] = 1.0  # channel 39: the Wan 2.2 VAE's strongest (dark) direction
    preview = latents_to_rgb(wan22, "wan22", (4, 4))
    expected = np.clip((WAN22_RGB[39] + WAN22_BIAS + 1) * 127.5, 0, 255).astype(np.uint8)
    assert WAN22_RGB.shape == (48, 3) and np.abs(preview[0, 0].astype(int) - expected).max() <= 1


def test_latent_spaces_without_factors_still_preview():
    ltx2 = np.random.default_rng(0).standard_normal((1, 128, 2, 4, 4)).astype(np.float32)
    preview = latents_to_rgb(ltx2, "ltx2", (4, 4))
    assert preview.shape == (4, 4, 3) and preview.max() == 255 and preview.min() == 0


class _Pipe:
    _interrupt = False


def test_previews_are_throttled_and_stop_interrupts_the_pipeline():
    previews, now = [], [0.0]
    ctx = RunContext(on_preview=lambda frame, kind: previews.append(kind))
    callback = FlowStepCallback(ctx, 4, family="wan21", size=(8, 8), min_interval=1.0,
                                clock=lambda: now[0])
    latents = {"latents": np.zeros((1, 16, 1, 2, 2), np.float32)}
    pipe = _Pipe()
    callback(pipe, 0, 999, latents)  # first step: a preview
    now[0] = 0.5
    callback(pipe, 1, 900, latents)  # too soon: none
    assert previews == ["step"]
    ctx.cancel_token.cancel()
    with pytest.raises(Cancelled):
        callback(pipe, 2, 800, latents)
    assert pipe._interrupt is True and callback.steps_done == 3
