"""Tiny random FLUX.2 klein, Wan 2.2 and LTX-2 video models, saved in the hub layout.

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


def gemma_tokenizer():
    """A word-level GemmaTokenizerFast: the class the LTX-2 pipeline declares."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GemmaTokenizerFast

    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    vocab = {word: index for index, word in enumerate(specials + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return GemmaTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>",
                              eos_token="<eos>", bos_token="<bos>")


def save_ltx2_i2v(folder: Path) -> Path:
    """The Lightricks/LTX-2 layout: Gemma 3 text encoder, text connectors, the audio-video
    transformer, the video VAE, the audio VAE and the vocoder. Sizes follow diffusers'
    tests/pipelines/ltx2 fixtures (which fetch hf-internal-testing/tiny-gemma3: built here
    instead, hidden size 32 as the connectors need); the video VAE patchifies by 4 and
    downsamples once (8x in space, 2x in time: the real one is 32x and 8x), and the vocoder
    upsamples by 160, the audio VAE's mel hop, so the sound lasts as long as the picture,
    as the real model's does."""
    import torch
    from diffusers import (AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video,
                           FlowMatchEulerDiscreteScheduler, LTX2ImageToVideoPipeline,
                           LTX2VideoTransformer3DModel)
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder
    from transformers import (Gemma3Config, Gemma3ForConditionalGeneration, Gemma3TextConfig,
                              SiglipVisionConfig)

    tokenizer = gemma_tokenizer()
    torch.manual_seed(0)
    text_config = Gemma3TextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=32,
                                   num_hidden_layers=2, num_attention_heads=2,
                                   num_key_value_heads=1, head_dim=8, max_position_embeddings=1024,
                                   sliding_window=64)
    vision_config = SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                       num_attention_heads=2, image_size=28, patch_size=14)
    text_encoder = Gemma3ForConditionalGeneration(Gemma3Config(
        text_config=text_config, vision_config=vision_config, mm_tokens_per_image=4))
    hidden = text_config.hidden_size
    torch.manual_seed(0)
    transformer = LTX2VideoTransformer3DModel(
        in_channels=4, out_channels=4, patch_size=1, patch_size_t=1, num_attention_heads=2,
        attention_head_dim=8, cross_attention_dim=16, audio_in_channels=4, audio_out_channels=4,
        audio_num_attention_heads=2, audio_attention_head_dim=4, audio_cross_attention_dim=8,
        num_layers=2, qk_norm="rms_norm_across_heads", caption_channels=hidden,
        rope_double_precision=False, rope_type="split")
    torch.manual_seed(0)
    connectors = LTX2TextConnectors(
        caption_channels=hidden, text_proj_in_factor=text_config.num_hidden_layers + 1,
        video_connector_num_attention_heads=4, video_connector_attention_head_dim=8,
        video_connector_num_layers=1, video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=4, audio_connector_attention_head_dim=8,
        audio_connector_num_layers=1, audio_connector_num_learnable_registers=None,
        connector_rope_base_seq_len=32, rope_theta=10000.0, rope_double_precision=False,
        causal_temporal_positioning=False, rope_type="split")
    torch.manual_seed(0)
    vae = AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8,),
        decoder_block_out_channels=(8,), layers_per_block=(1,), decoder_layers_per_block=(1, 1),
        spatio_temporal_scaling=(True,), decoder_spatio_temporal_scaling=(True,),
        decoder_inject_noise=(False, False), downsample_type=("spatiotemporal",),
        upsample_type=("spatiotemporal",), upsample_residual=(False,), upsample_factor=(1,),
        timestep_conditioning=False, patch_size=4, patch_size_t=1, encoder_causal=True,
        decoder_causal=False)
    torch.manual_seed(0)
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1, attn_resolutions=None,
        in_channels=2, resolution=32, latent_channels=2, norm_type="pixel",
        causality_axis="height", dropout=0.0, mid_block_add_attention=False, sample_rate=16000,
        mel_hop_length=160, is_causal=True, mel_bins=8)
    torch.manual_seed(0)
    vocoder = LTX2Vocoder(
        in_channels=audio_vae.config.output_channels * audio_vae.config.mel_bins,
        hidden_channels=32, out_channels=2, upsample_kernel_sizes=[20, 32],
        upsample_factors=[10, 16], resnet_kernel_sizes=[3], resnet_dilations=[[1, 3, 5]],
        leaky_relu_negative_slope=0.1, output_sampling_rate=16000)
    pipe = LTX2ImageToVideoPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, audio_vae=audio_vae,
        text_encoder=text_encoder, tokenizer=tokenizer, connectors=connectors,
        transformer=transformer, vocoder=vocoder)
    pipe.save_pretrained(str(folder))
    return folder
