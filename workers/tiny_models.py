"""Tiny random-weight Stable Video Diffusion and Zeroscope pipelines, built from configs.

The same classes as the real models, a few thousand times smaller, with random weights: they
load through the same ``from_pretrained`` code and run the same pipelines, on a CPU, in
seconds. Their videos are noise; they exist so the diffusers path can be tested and tried
without downloading anything (``python manage.py make_tiny_models var/models``). Like the real
models, the VAEs downsample by 8, so a 256x256 video has 32x32 latents.

The tokenizer's vocabulary is written here: the 256 byte symbols of CLIP's byte-level BPE (alone
and as word ends) plus the two special tokens, with no merges, so any prompt tokenizes.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

SVD_DIRNAME = "svd"
ZEROSCOPE_DIRNAME = "zeroscope"
TOKENIZER_MAX_LENGTH = 77


def _bytes_to_unicode() -> dict[int, str]:
    # The byte → printable character table of GPT-2/CLIP byte-level BPE.
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    bs += range(ord("®"), ord("ÿ") + 1)
    cs = list(bs)
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def tiny_tokenizer():
    from transformers import CLIPTokenizer

    symbols = list(_bytes_to_unicode().values())
    tokens = ["<|startoftext|>", "<|endoftext|>", *symbols, *(s + "</w>" for s in symbols)]
    vocab = {token: i for i, token in enumerate(tokens)}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=TOKENIZER_MAX_LENGTH)


def tiny_svd_pipeline(*, num_frames: int = 25, seed: int = 0):
    """A StableVideoDiffusionPipeline with the real architecture's shape, tiny and random."""
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    unet = UNetSpatioTemporalConditionModel(
        sample_size=32,
        in_channels=8,
        out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        cross_attention_dim=32,
        num_attention_heads=(2, 4),
        addition_time_embed_dim=32,
        projection_class_embeddings_input_dim=96,  # 3 added time ids x 32
        num_frames=num_frames,
    )
    vae = AutoencoderKLTemporalDecoder(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,  # 3 downsamplers: factor 8
        block_out_channels=(32, 32, 32, 32),  # GroupNorm(32) fixes the minimum width
        layers_per_block=1,
        latent_channels=4,
        sample_size=256,
    )
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=37,
            projection_dim=32,  # = the UNet's cross_attention_dim
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=224,  # the pipeline resizes its CLIP input to 224
            patch_size=32,
        )
    )
    feature_extractor = CLIPImageProcessor(crop_size=224, size=224)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        interpolation_type="linear",
        num_train_timesteps=1000,
        prediction_type="v_prediction",
        sigma_max=700.0,
        sigma_min=0.002,
        steps_offset=1,
        timestep_spacing="leading",
        timestep_type="continuous",
        use_karras_sigmas=True,
    )
    return StableVideoDiffusionPipeline(
        vae=vae,
        image_encoder=image_encoder,
        unet=unet,
        scheduler=scheduler,
        feature_extractor=feature_extractor,
    )


def tiny_zeroscope_pipeline(*, seed: int = 0):
    """A TextToVideoSDPipeline with the real architecture's shape, tiny and random."""
    from diffusers import AutoencoderKL, DDIMScheduler, TextToVideoSDPipeline, UNet3DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer()
    unet = UNet3DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        block_out_channels=(16, 32),
        layers_per_block=1,
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,  # 3 downsamplers: factor 8
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=256,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,  # = the UNet's cross_attention_dim
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=TOKENIZER_MAX_LENGTH,
            projection_dim=32,
            hidden_act="gelu",
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return TextToVideoSDPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler
    )


def write_tiny_models(root: str | os.PathLike[str], *, svd_num_frames: int = 25) -> dict[str, Path]:
    """Write ``root/svd`` and ``root/zeroscope`` (``save_pretrained``); return the two paths."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    root = Path(root)
    paths = {"svd": root / SVD_DIRNAME, "zeroscope": root / ZEROSCOPE_DIRNAME}
    tiny_svd_pipeline(num_frames=svd_num_frames).save_pretrained(paths["svd"])
    tiny_zeroscope_pipeline().save_pretrained(paths["zeroscope"])
    return paths
