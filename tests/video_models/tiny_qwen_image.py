"""A tiny random Qwen-Image-Edit 2509, saved in the layout of the hub repository.

Sizes follow diffusers' fast test (tests/pipelines/qwenimage/test_qwenimage_edit_plus.py),
with two changes that keep it fast on the CPU and true to the real model:
- the VAE has 16 latent channels (the Wan 2.1 latent space the real model works in, so
  the step previews use the real projection) and downsamples 32x where the real one does
  8x: the pipeline encodes every reference image at about one megapixel, which at 8x would
  be thousands of tokens per image for the tiny transformer's attention;
- the tokenizer, which diffusers' test fetches from the hub, is built here: Qwen's
  byte-level BPE with no merges (one token per byte) and the real special tokens.
The processor (Qwen2VLProcessor: the image processor plus the tokenizer) is saved in
`processor/` and the tokenizer in `tokenizer/`, as in Qwen/Qwen-Image-Edit-2509.
"""
from __future__ import annotations

import json
from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                  "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
Z_DIM = 16  # Qwen-Image's VAE: the Wan 2.1 VAE's 16 latent channels


def qwen_tokenizer():
    from tokenizers import pre_tokenizers
    from transformers import Qwen2Tokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())  # the 256 byte symbols
    vocab = {"<|endoftext|>": 0, **{char: index + 1 for index, char in enumerate(alphabet)}}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[])
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:]})
    return tokenizer


def save_qwen_image_edit(folder: Path) -> Path:
    import torch
    from diffusers import (AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler,
                           QwenImageEditPlusPipeline, QwenImageTransformer2DModel)
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    tokenizer = qwen_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    torch.manual_seed(0)
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=Z_DIM * 4, out_channels=Z_DIM, num_layers=2, attention_head_dim=16,
        num_attention_heads=3, joint_attention_dim=16, guidance_embeds=False, axes_dims_rope=(8, 4, 4))
    torch.manual_seed(0)
    vae = AutoencoderKLQwenImage(base_dim=8, z_dim=Z_DIM, dim_mult=[1, 1, 1, 1, 1, 1],
                                 num_res_blocks=1,
                                 temperal_downsample=[False, True, True, False, False])
    torch.manual_seed(0)
    text_encoder = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(
        text_config={"hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "num_key_value_heads": 2,
                     "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default",
                                      "type": "default"},
                     "rope_theta": 1000000.0, "vocab_size": len(tokenizer)},
        vision_config={"depth": 2, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2,
                       "out_hidden_size": 16},
        hidden_size=16, vocab_size=len(tokenizer), image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"]))
    pipe = QwenImageEditPlusPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae,
                                     text_encoder=text_encoder, tokenizer=tokenizer,
                                     processor=None, transformer=transformer)
    pipe.save_pretrained(str(folder))
    # Qwen2VLProcessor cannot be built without torchvision (its video half), so its folder
    # is written from its parts, as the hub repository has it: the image processor's
    # preprocessor_config.json and the tokenizer files, under processor/.
    Qwen2VLImageProcessorPil().save_pretrained(str(folder / "processor"))
    tokenizer.save_pretrained(str(folder / "processor"))
    index_path = folder / "model_index.json"
    index = json.loads(index_path.read_text())
    index["processor"] = ["transformers", "Qwen2VLProcessor"]
    index_path.write_text(json.dumps(index, indent=2))
    return folder
