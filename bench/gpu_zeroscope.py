"""Zeroscope v2 576w on one GPU: stock diffusers defaults vs the worker's optimised path.

The FULL-size architecture (ModelScope text-to-video UNet3D, the SD 2 VAE, the OpenCLIP ViT-H
text tower) is built from its published configs below with random weights, on the GPU, cast
to fp16; the compute per step is the real model's. The tokenizer is the tiny byte-level one
from workers/tiny_models.py (the sequence is padded to 77 tokens either way). Variants are timed
as in gpu_svd.py, whose harness this uses (--variants; cumulative):

  stock          fp16, SDPA attention, the pipeline's single VAE call over all frames
  chunk=all      here: the worker's chunked decode, 8 frames per VAE call (as the engine does)
  cudnn          + torch.backends.cudnn.benchmark
  compile-unet   + torch.compile(UNet)
  compile-vae    + torch.compile(VAE decoder)
  also: nhwc, bf16, cudnn-attn (see gpu_svd.py)

    python bench/gpu_zeroscope.py                 # full size on CUDA (tiny on CPU if no GPU)
    python bench/gpu_zeroscope.py --tiny
    python bench/gpu_zeroscope.py --frames 24 --steps 10 --repeat 2 --json out.json
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu_svd import bench_setup  # noqa: E402

from workers.engines.diffusion import reporting_decode  # noqa: E402

DECODE_CHUNK = 8

# --- the published configs of cerspense/zeroscope_v2_576w -----------------------------------

ZEROSCOPE_UNET = {
    "sample_size": 32,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": [
        "CrossAttnDownBlock3D",
        "CrossAttnDownBlock3D",
        "CrossAttnDownBlock3D",
        "DownBlock3D",
    ],
    "up_block_types": [
        "UpBlock3D",
        "CrossAttnUpBlock3D",
        "CrossAttnUpBlock3D",
        "CrossAttnUpBlock3D",
    ],
    "block_out_channels": [320, 640, 1280, 1280],
    "layers_per_block": 2,
    "downsample_padding": 1,
    "mid_block_scale_factor": 1,
    "act_fn": "silu",
    "norm_num_groups": 32,
    "norm_eps": 1e-05,
    "cross_attention_dim": 1024,
    "attention_head_dim": 64,
}
ZEROSCOPE_VAE = {  # the Stable Diffusion 2 autoencoder
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "act_fn": "silu",
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 768,
    "scaling_factor": 0.18215,
}
ZEROSCOPE_TEXT_ENCODER = {  # OpenCLIP ViT-H/14 text tower (23 of its 24 layers, as in SD 2)
    "vocab_size": 49408,
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 23,
    "num_attention_heads": 16,
    "max_position_embeddings": 77,
    "projection_dim": 512,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
}
ZEROSCOPE_SCHEDULER = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
}


def build_full(device: str, dtype: torch.dtype):
    from diffusers import AutoencoderKL, DDIMScheduler, TextToVideoSDPipeline, UNet3DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from workers.tiny_models import tiny_tokenizer

    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet3DConditionModel(**ZEROSCOPE_UNET).to(dtype)
        vae = AutoencoderKL(**ZEROSCOPE_VAE).to(dtype)
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                **ZEROSCOPE_TEXT_ENCODER,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        ).to(dtype)
    pipe = TextToVideoSDPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=DDIMScheduler(**ZEROSCOPE_SCHEDULER),
    )
    return pipe.to(device)


def build_tiny(device: str, dtype: torch.dtype):
    from workers.tiny_models import tiny_zeroscope_pipeline

    return tiny_zeroscope_pipeline().to(device=device, dtype=dtype)


def main(argv: list[str] | None = None) -> int:
    bench = bench_setup(
        argv,
        description=__doc__.splitlines()[0],
        full={"frames": 24, "steps": 10, "width": 576, "height": 320},
        build_full=build_full,
        build_tiny=build_tiny,
    )
    frames, steps, width, height = bench.frames, bench.steps, bench.width, bench.height
    device, pipe = bench.device, bench.pipe
    prompt = "a lighthouse on a cliff at night, waves crashing, cinematic, high quality"

    def make_call(options: dict):
        chunk = options.get("decode_chunk_size")

        def call(on_step_end):
            def callback(i, t, latents):
                on_step_end(pipe, i, t, {})

            def run():
                return pipe(
                    prompt=prompt,
                    height=height,
                    width=width,
                    num_frames=frames,
                    num_inference_steps=steps,
                    guidance_scale=9.0,
                    negative_prompt=None,
                    eta=0.0,
                    generator=torch.Generator(device).manual_seed(0),
                    latents=None,
                    prompt_embeds=None,
                    negative_prompt_embeds=None,
                    output_type="np",
                    return_dict=True,
                    callback=callback,
                    callback_steps=1,
                    cross_attention_kwargs=None,
                    clip_skip=None,
                ).frames

            if not chunk:
                return run()
            chunks = -(-frames // chunk)
            with reporting_decode(pipe.vae, lambda *a: None, chunks=chunks, split=chunk):
                return run()

        return call

    # Zeroscope's stock decode is one VAE call over all frames; "chunk=all" here means the
    # worker's chunked decode (DECODE_CHUNK frames per call) instead.
    variants = [
        ("decode chunks=8", lambda pipe: {"decode_chunk_size": DECODE_CHUNK})
        if name == "decode chunk=all"
        else (name, setup)
        for name, setup in bench.standard_variants()
    ]
    return bench.run(make_call, variants, model="Zeroscope v2 576w")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
