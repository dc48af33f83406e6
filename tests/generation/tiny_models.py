"""Tiny random-weight diffusers components for tests and benchmarks.

Built the way diffusers' own tests build them (`get_dummy_components`), but
without touching the Hugging Face hub: the CLIP tokenizer's vocab/merges are
written here. Everything is saved to disk so that the backend loads it through
the same code path as a real model (a diffusers folder, adapter files).
"""
from __future__ import annotations

import json
from pathlib import Path

CROSS_ATTENTION_DIM = 64  # = the FaceID Plus resampler width (64-wide heads), as 768 is in SD 1.5
FACE_DIM = 512  # ArcFace / insightface embedding size, as in the real adapter
CLIP_PROJECTION_DIM = 32


def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def write_tokenizer(folder: Path) -> Path:
    """A byte-level CLIP BPE tokenizer with a ~520 token vocabulary."""
    folder.mkdir(parents=True, exist_ok=True)
    chars = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {"<|startoftext|>": 0, "!": 1, "<|endoftext|>": 2}
    for char in chars:
        vocab.setdefault(char, len(vocab))
    for char in chars:
        vocab.setdefault(char + "</w>", len(vocab))
    merges = ["#version: 0.2", "a n", "t h", "th e</w>"]
    for merged in ("an", "th", "the</w>"):
        vocab.setdefault(merged, len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("\n".join(merges) + "\n")
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer(vocab_file=str(folder / "vocab.json"),
                              merges_file=str(folder / "merges.txt"), model_max_length=77)
    tokenizer.save_pretrained(str(folder))
    return folder


def sd15_components(tmp: Path) -> dict:
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    # Attention in every block, as in SD 1.5's first down blocks: then the attention
    # processors interleave with an AnimateDiff UNet's motion modules from block 0 on,
    # so any code that numbers them by index meets the same order as on real weights.
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        attention_head_dim=2, cross_attention_dim=CROSS_ATTENTION_DIM, norm_num_groups=2)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=[4, 8], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
                        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
                        latent_channels=4, norm_num_groups=2)
    torch.manual_seed(0)
    text_config = CLIPTextConfig(bos_token_id=0, eos_token_id=2, hidden_size=CROSS_ATTENTION_DIM,
                                 intermediate_size=37, layer_norm_eps=1e-05, num_attention_heads=4,
                                 num_hidden_layers=2, pad_token_id=1, vocab_size=1000)
    text_encoder = CLIPTextModel(text_config)
    tokenizer = CLIPTokenizer.from_pretrained(str(write_tokenizer(tmp / "_tokenizer")))
    return {"unet": unet, "scheduler": scheduler, "vae": vae, "text_encoder": text_encoder,
            "tokenizer": tokenizer, "safety_checker": None, "feature_extractor": None,
            "image_encoder": None}


def save_sd15_folder(folder: Path) -> Path:
    """A tiny SD 1.5-layout diffusers folder (model_index.json + subfolders)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(**sd15_components(folder.parent), requires_safety_checker=False)
    pipe.save_pretrained(str(folder))
    return folder


def sdxl_components(tmp: Path) -> dict:
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 1), projection_class_embeddings_input_dim=80,
        cross_attention_dim=64, norm_num_groups=2)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, steps_offset=1,
                                       beta_schedule="scaled_linear", timestep_spacing="leading")
    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=[4, 8], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
                        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
                        latent_channels=4, norm_num_groups=2, sample_size=128)
    torch.manual_seed(0)
    text_config = CLIPTextConfig(bos_token_id=0, eos_token_id=2, hidden_size=32, intermediate_size=37,
                                 layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2,
                                 pad_token_id=1, vocab_size=1000, hidden_act="gelu", projection_dim=32)
    text_encoder = CLIPTextModel(text_config)
    text_encoder_2 = CLIPTextModelWithProjection(text_config)
    tokenizer = CLIPTokenizer.from_pretrained(str(write_tokenizer(tmp / "_tokenizer")))
    return {"unet": unet, "scheduler": scheduler, "vae": vae, "text_encoder": text_encoder,
            "tokenizer": tokenizer, "text_encoder_2": text_encoder_2, "tokenizer_2": tokenizer,
            "image_encoder": None, "feature_extractor": None}


def save_sdxl_folder(folder: Path) -> Path:
    from diffusers import StableDiffusionXLPipeline

    pipe = StableDiffusionXLPipeline(**sdxl_components(folder.parent))
    pipe.save_pretrained(str(folder))
    return folder


def _processor_hidden_sizes(unet_config: dict) -> list[tuple[str, int]]:
    """(name, hidden size) of every attention processor, in `unet.attn_processors` order."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_config(unet_config)
    sizes = []
    for name in unet.attn_processors:
        if name.startswith("mid_block"):
            sizes.append((name, unet_config["block_out_channels"][-1]))
        elif name.startswith("up_blocks"):
            sizes.append((name, list(reversed(unet_config["block_out_channels"]))[int(name[len("up_blocks.")])]))
        else:
            sizes.append((name, unet_config["block_out_channels"][int(name[len("down_blocks.")])]))
    return sizes


def _attn2_hidden_sizes(unet_config: dict) -> list[int]:
    """Hidden size of each cross-attention processor, in `unet.attn_processors` order."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_config(unet_config)
    sizes = []
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            sizes.append(unet_config["block_out_channels"][-1])
        elif name.startswith("up_blocks"):
            sizes.append(list(reversed(unet_config["block_out_channels"]))[int(name[len("up_blocks.")])])
        else:
            sizes.append(unet_config["block_out_channels"][int(name[len("down_blocks.")])])
    return sizes


def faceid_state_dict(unet_config: dict, *, num_tokens: int = 4, mult: int = 2, seed: int = 1,
                      lora_rank: int = 4) -> dict:
    """IP-Adapter FaceID weights in the layout of `ip-adapter-faceid_sd15.bin`:
    image_proj.proj.0 (512 -> 512*mult), proj.2 (-> cross_dim*num_tokens), norm;
    ip_adapter.{1,3,5,...}.to_k_ip / to_v_ip per cross-attention layer; and, as in
    the real file, the LoRA: ip_adapter.{0,1,2,...}.to_{q,k,v,out}_lora.{down,up}.weight
    for every attention processor (self and cross), numbered in processor order."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    cross = unet_config["cross_attention_dim"]

    def rand(*shape, scale=0.5):
        return torch.randn(*shape, generator=generator) * scale

    image_proj = {
        "proj.0.weight": rand(FACE_DIM * mult, FACE_DIM, scale=0.05), "proj.0.bias": rand(FACE_DIM * mult),
        "proj.2.weight": rand(cross * num_tokens, FACE_DIM * mult, scale=0.05),
        "proj.2.bias": rand(cross * num_tokens),
        "norm.weight": torch.ones(cross), "norm.bias": torch.zeros(cross),
    }
    ip_adapter = {}
    for index, hidden in enumerate(_attn2_hidden_sizes(unet_config)):
        key_id = 1 + 2 * index
        ip_adapter[f"{key_id}.to_k_ip.weight"] = rand(hidden, cross)
        ip_adapter[f"{key_id}.to_v_ip.weight"] = rand(hidden, cross)
    if lora_rank:
        for index, (name, hidden) in enumerate(_processor_hidden_sizes(unet_config)):
            kv_in = hidden if name.endswith("attn1.processor") else cross
            for part, width_in in (("to_q", hidden), ("to_k", kv_in), ("to_v", kv_in), ("to_out", hidden)):
                ip_adapter[f"{index}.{part}_lora.down.weight"] = rand(lora_rank, width_in, scale=0.3)
                ip_adapter[f"{index}.{part}_lora.up.weight"] = rand(hidden, lora_rank, scale=0.3)
    return {"image_proj": image_proj, "ip_adapter": ip_adapter}


def faceid_plus_v2_state_dict(unet_config: dict, *, clip_hidden: int = 32, heads: int = 1, seed: int = 4) -> dict:
    """IP-Adapter FaceID Plus v2 in the layout of `ip-adapter-faceid-plusv2_sd15.bin`: the
    FaceID projection (proj.0/proj.2/norm) plus the perceiver resampler over CLIP
    hidden states (perceiver_resampler.*, 4 layers of 64-wide heads), the same
    to_k_ip/to_v_ip layers and LoRA as plain FaceID."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    cross = unet_config["cross_attention_dim"]
    embed, tokens = heads * 64, 4

    def rand(*shape, scale=0.05):
        return torch.randn(*shape, generator=generator) * scale

    def ones(n):
        return torch.ones(n)

    def zeros(n):
        return torch.zeros(n)

    proj = {"proj.0.weight": rand(FACE_DIM * 2, FACE_DIM), "proj.0.bias": rand(FACE_DIM * 2),
            "proj.2.weight": rand(embed * tokens, FACE_DIM * 2), "proj.2.bias": rand(embed * tokens),
            "norm.weight": ones(embed), "norm.bias": zeros(embed),
            "perceiver_resampler.proj_in.weight": rand(embed, clip_hidden),
            "perceiver_resampler.proj_in.bias": rand(embed),
            "perceiver_resampler.proj_out.weight": rand(cross, embed, scale=0.5),
            "perceiver_resampler.proj_out.bias": rand(cross),
            "perceiver_resampler.norm_out.weight": ones(cross), "perceiver_resampler.norm_out.bias": zeros(cross)}
    for index in range(4):
        layer = f"perceiver_resampler.layers.{index}"
        proj.update({f"{layer}.0.norm1.weight": ones(embed), f"{layer}.0.norm1.bias": zeros(embed),
                     f"{layer}.0.norm2.weight": ones(embed), f"{layer}.0.norm2.bias": zeros(embed),
                     f"{layer}.0.to_q.weight": rand(heads * 64, embed),
                     f"{layer}.0.to_kv.weight": rand(2 * heads * 64, embed),
                     f"{layer}.0.to_out.weight": rand(embed, heads * 64),
                     f"{layer}.1.0.weight": ones(embed), f"{layer}.1.0.bias": zeros(embed),
                     f"{layer}.1.1.weight": rand(embed * 4, embed), f"{layer}.1.3.weight": rand(embed, embed * 4)})
    state = faceid_state_dict(unet_config, seed=seed + 1)
    return {"image_proj": proj, "ip_adapter": state["ip_adapter"]}


def image_adapter_state_dict(unet_config: dict, *, seed: int = 2) -> dict:
    """A plain IP-Adapter (`ip-adapter_sd15.safetensors` layout): image_proj.proj + norm."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    cross = unet_config["cross_attention_dim"]
    image_proj = {"proj.weight": torch.randn(4 * cross, CLIP_PROJECTION_DIM, generator=generator) * 0.5,
                  "proj.bias": torch.zeros(4 * cross),
                  "norm.weight": torch.ones(cross), "norm.bias": torch.zeros(cross)}
    ip_adapter = {}
    for index, hidden in enumerate(_attn2_hidden_sizes(unet_config)):
        key_id = 1 + 2 * index
        ip_adapter[f"{key_id}.to_k_ip.weight"] = torch.randn(hidden, cross, generator=generator) * 0.5
        ip_adapter[f"{key_id}.to_v_ip.weight"] = torch.randn(hidden, cross, generator=generator) * 0.5
    return {"image_proj": image_proj, "ip_adapter": ip_adapter}


def save_adapter_safetensors(state_dict: dict, path: Path) -> Path:
    """Flatten {"image_proj": {...}, "ip_adapter": {...}} to prefixed keys, as the
    hub's .safetensors IP-Adapter files are."""
    from safetensors.torch import save_file

    flat = {f"{group}.{key}": value.contiguous() for group, tensors in state_dict.items()
            for key, value in tensors.items()}
    save_file(flat, str(path))
    return path


def save_image_encoder(folder: Path) -> Path:
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    config = CLIPVisionConfig(hidden_size=32, projection_dim=CLIP_PROJECTION_DIM, num_hidden_layers=2,
                              num_attention_heads=4, image_size=32, intermediate_size=37, patch_size=4)
    CLIPVisionModelWithProjection(config).save_pretrained(str(folder))
    CLIPImageProcessor(size=32, crop_size=32).save_pretrained(str(folder))
    return folder


def save_motion_adapter(folder: Path) -> Path:
    import torch
    from diffusers import MotionAdapter

    torch.manual_seed(0)
    adapter = MotionAdapter(block_out_channels=(4, 8), motion_layers_per_block=1, motion_norm_num_groups=2,
                            motion_num_attention_heads=2, motion_max_seq_length=32)
    adapter.save_pretrained(str(folder))
    return folder


def save_sdxl_motion_adapter(folder: Path) -> Path:
    """A motion adapter for the tiny SDXL UNet, shaped as the AnimateDiff SDXL beta
    (no motion mid block), trained for 32 frames."""
    import torch
    from diffusers import MotionAdapter

    torch.manual_seed(0)
    adapter = MotionAdapter(block_out_channels=(4, 8), motion_layers_per_block=1, motion_norm_num_groups=2,
                            motion_num_attention_heads=2, motion_max_seq_length=32, use_motion_mid_block=False)
    adapter.save_pretrained(str(folder))
    return folder


def build_sdxl(root: Path) -> dict[str, Path]:
    """The tiny SDXL folder, a FaceID adapter that fits it and an SDXL motion adapter."""
    root.mkdir(parents=True, exist_ok=True)
    model = save_sdxl_folder(root / "sdxl")
    unet_config = json.loads((model / "unet" / "config.json").read_text())
    return {"model": model,
            "faceid": save_adapter_safetensors(faceid_state_dict(unet_config), root / "faceid_xl.safetensors"),
            "motion": save_sdxl_motion_adapter(root / "motion_adapter_xl")}


def build_all(root: Path) -> dict[str, Path]:
    """Save every tiny model under `root`; returns the paths by name."""
    root.mkdir(parents=True, exist_ok=True)
    model = save_sd15_folder(root / "sd15")
    unet_config = json.loads((model / "unet" / "config.json").read_text())
    return {
        "model": model,
        "faceid": save_adapter_safetensors(faceid_state_dict(unet_config), root / "ip-adapter-faceid_tiny.safetensors"),
        "image_adapter": save_adapter_safetensors(image_adapter_state_dict(unet_config),
                                                  root / "ip-adapter_tiny.safetensors"),
        "image_encoder": save_image_encoder(root / "image_encoder"),
        "motion": save_motion_adapter(root / "motion_adapter"),
        "faceid_plus_v2": save_adapter_safetensors(faceid_plus_v2_state_dict(unet_config),
                                                   root / "ip-adapter-faceid-plusv2_tiny.safetensors"),
        "lora": save_character_lora(model, root / "loras" / "character_tiny.safetensors"),
    }


def face_embedding(seed: int) -> "object":
    import numpy as np

    vector = np.random.default_rng(seed).standard_normal(FACE_DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def tiny_identity(seed: int = 0, n_refs: int = 3, with_insightface: bool = True, face_crops: bool = True):
    """An Identity with insightface (512-d) and dlib (128-d) embeddings and samples, each
    with a 224-px FaceID Plus v2 crop (random pixels) unless face_crops is False."""
    import numpy as np

    from canvas_app.values import FaceSample, Identity

    rng = np.random.default_rng(seed + 100)
    crop_rng = np.random.default_rng(seed + 200)
    samples = []
    vectors = []
    for index in range(n_refs):
        embeddings = {}
        if with_insightface:
            vector = face_embedding(seed * 10 + index)
            vectors.append(vector)
            embeddings["insightface/buffalo_l"] = vector
        dlib = rng.standard_normal(128).astype(np.float32)
        embeddings["dlib"] = dlib / np.linalg.norm(dlib)
        sample = FaceSample(source_name=f"ref{index}.jpg", source_sha256=f"{index:064d}", role="face",
                            embeddings=embeddings, thumbnail=np.zeros((8, 8, 3), np.uint8), quality=1.0)
        if face_crops:
            sample.face_crop = crop_rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)
        samples.append(sample)
    embeddings = {}
    if with_insightface:
        combined = np.mean(vectors, axis=0)
        embeddings["insightface/buffalo_l"] = (combined / np.linalg.norm(combined)).astype(np.float32)
    dlib = np.mean([s.embeddings["dlib"] for s in samples], axis=0)
    embeddings["dlib"] = (dlib / np.linalg.norm(dlib)).astype(np.float32)
    return Identity(name=f"person{seed}", embeddings=embeddings, samples=samples)


def save_character_lora(model: Path, path: Path, *, rank: int = 4, seed: int = 3) -> Path:
    """A character LoRA for the tiny UNet in the layout diffusers' trainers write
    (`save_lora_weights`: unet.<module>.lora_A/B.weight in one .safetensors)."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(str(model / "unet"))
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in unet.named_parameters():
            if "lora_B" in name:  # peft starts B at zero: a LoRA that changes nothing
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    layers = get_peft_model_state_dict(unet)
    path.parent.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(str(path.parent), unet_lora_layers=layers,
                                              weight_name=path.name, safe_serialization=True)
    return path
