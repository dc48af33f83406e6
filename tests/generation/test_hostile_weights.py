"""Hostile weight files given to the diffusers backend (issue 23, items 8 and 9):
each is a clear error naming the field, never a traceback or a hang."""
from __future__ import annotations

import os
import pickle
import threading

import pytest
from diffusers_helpers import request

from canvas_app.engine.context import RunContext
from canvas_app.errors import BadInput


def render_within(backend, shot, seconds: float = 120) -> list:
    """[the exception render raised] or [None]; [] if it hung."""
    outcome: list = []

    def target():
        try:
            backend.render(shot, RunContext())
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - the outcome is what is checked
            outcome.append(error)
    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout=seconds)
    return outcome


def test_a_lora_with_keys_of_another_model_is_a_clear_error(tiny, backend, tmp_path):
    import torch
    from safetensors.torch import save_file

    lora = tmp_path / "other.safetensors"  # a block index the tiny UNet does not have
    save_file({"unet.down_blocks.7.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight":
               torch.zeros(4, 32)}, str(lora))
    with pytest.raises(BadInput) as raised:
        backend.render(request(tiny, loras=f"{lora}=1.0"), RunContext())
    assert raised.value.field == "loras" and "this model" in str(raised.value)


@pytest.mark.parametrize("field", ["loras", "faceid_adapter"])
def test_a_fifo_as_lora_or_faceid_adapter_fails_at_once(tiny, backend, tmp_path, field):
    fifo = tmp_path / "weights.safetensors"
    os.mkfifo(fifo)
    extra = {"loras": f"{fifo}=1.0"} if field == "loras" else {"faceid_adapter": str(fifo)}
    outcome = render_within(backend, request(tiny, **extra))
    assert outcome, f"a FIFO as {field} hung"
    assert isinstance(outcome[0], BadInput) and outcome[0].field == field, outcome
    assert "not a regular file" in str(outcome[0])


def test_a_pickled_checkpoint_as_the_model_says_what_to_do(tiny, backend, tmp_path):
    model = tmp_path / "model.ckpt"
    model.write_bytes(pickle.dumps({"state_dict": {"weight": 1}, "call": os.system}))
    with pytest.raises(BadInput) as raised:
        backend.render(request(tiny, model=str(model)), RunContext())
    assert raised.value.field == "model" and ".safetensors" in str(raised.value)
    assert "model_config" not in str(raised.value)
