"""Tiny random FLUX.2 klein and Wan 2.2 image-to-video models, saved in the hub layout.

Sizes follow diffusers' own fast tests (tests/pipelines/flux2/test_pipeline_flux2_klein.py,
tests/pipelines/wan/test_wan_image_to_video.py); the tokenizers, which those tests fetch
from the hub, are built here: a word-level vocabulary with the special tokens the
pipelines use (Qwen's chat markers, T5's pad and end tokens). `save_pretrained` writes
model_index.json and one folder per component, as the real repositories have them, and
the backends load them with `from_pretrained` like a real download.
"""
from __future__ import annotations

from pathlib import Path

WORDS = ("a an the astronaut smiling at camera studio portrait close-up medium wide shot light "
         "warm push in pull out pan left right tilt up down blurry deformed extra fingers "
         "turns towards launch pad behind her person face").split()
QWEN_CHAT_TEMPLATE = ("{% for message in messages %}<|im_start|>{{ message['role'] }} "
                      "{{ message['content'] }}<|im_end|> {% endfor %}"
                      "{% if add_generation_prompt %}<|im_start|>assistant {% endif %}")


def word_tokenizer(specials: list[str], **tokens):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {word: index for index, word in enumerate(specials + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token=tokens["unk_token"]))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, **tokens)


def save_flux2_klein(folder: Path) -> Path:
    import torch
    from diffusers import (AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2KleinPipeline,
                           Flux2Transformer2DModel)
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = word_tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                               unk_token="<|endoftext|>", pad_token="<|endoftext|>",
                               eos_token="<|im_end|>")
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    torch.manual_seed(0)
    transformer = Flux2Transformer2DModel(
        patch_size=1, in_channels=4, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=16, timestep_guidance_channels=256,
        axes_dims_rope=[4, 4, 4, 4], guidance_embeds=False)
    text_encoder = Qwen3ForCausalLM(Qwen3Config(
        intermediate_size=16, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=512))
    # Four blocks (diffusers' test has one): 8x downsampling as in the real VAE, so that
    # reference photos become few tokens and the tiny model stays fast.
    vae = AutoencoderKLFlux2(
        sample_size=32, in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(4, 4, 4, 4),
        layers_per_block=1, latent_channels=1, norm_num_groups=1, use_quant_conv=False,
        use_post_quant_conv=False)
    pipe = Flux2KleinPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae,
                              text_encoder=text_encoder, tokenizer=tokenizer,
                              transformer=transformer, is_distilled=True)
    pipe.save_pretrained(str(folder))
    return folder


def save_wan22_i2v(folder: Path) -> Path:
    """The I2V-A14B layout: two experts (transformer, transformer_2) with a
    boundary, no CLIP image encoder, the 16-channel Wan VAE."""
    import torch
    from diffusers import (AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline,
                           WanTransformer3DModel)
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = word_tokenizer(["<pad>", "</s>", "<unk>"], unk_token="<unk>", pad_token="<pad>",
                               eos_token="</s>")
    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8,
                                               d_ff=32, num_layers=1, num_heads=2))
    experts = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        experts.append(WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36,
            out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=1,
            cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32))
    pipe = WanImageToVideoPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae,
                                   scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0),
                                   transformer=experts[0], transformer_2=experts[1],
                                   boundary_ratio=0.875)
    pipe.save_pretrained(str(folder))
    return folder


def save_wan_vace(folder: Path) -> Path:
    """The Wan VACE layout: one VACE transformer (control blocks on layers 0 and 1)."""
    import torch
    from diffusers import (AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanVACEPipeline,
                           WanVACETransformer3DModel)
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = word_tokenizer(["<pad>", "</s>", "<unk>"], unk_token="<unk>", pad_token="<pad>",
                               eos_token="</s>")
    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8,
                                               d_ff=32, num_layers=1, num_heads=2))
    transformer = WanVACETransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16,
        out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32, vace_layers=[0, 1],
        vace_in_channels=96)
    pipe = WanVACEPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae,
                           scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0),
                           transformer=transformer)
    pipe.save_pretrained(str(folder))
    return folder


def save_wan22_ti2v(folder: Path) -> Path:
    """The TI2V-5B layout: one transformer, the 48-channel Wan 2.2 VAE (16x spatial), and
    `expand_timesteps` (the first frame is a clean latent; there is no last-frame input)."""
    import torch
    from diffusers import (AutoencoderKLWan, UniPCMultistepScheduler, WanImageToVideoPipeline,
                           WanTransformer3DModel)
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = word_tokenizer(["<pad>", "</s>", "<unk>"], unk_token="<unk>", pad_token="<pad>",
                               eos_token="</s>")
    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=48, in_channels=12, out_channels=12, is_residual=True,
                           patch_size=2, latents_mean=[0.0] * 48, latents_std=[1.0] * 48,
                           dim_mult=[1, 1, 1, 1], num_res_blocks=1, scale_factor_spatial=16,
                           scale_factor_temporal=4, temperal_downsample=[False, True, True])
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8,
                                               d_ff=32, num_layers=1, num_heads=2))
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=48,
        out_channels=48, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=1, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32)
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                        flow_shift=5.0)
    pipe = WanImageToVideoPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae,
                                   scheduler=scheduler, transformer=transformer,
                                   expand_timesteps=True)
    pipe.save_pretrained(str(folder))
    return folder
