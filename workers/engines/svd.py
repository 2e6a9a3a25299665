"""Stable Video Diffusion (image to video) through diffusers' StableVideoDiffusionPipeline.

The request maps onto the pipeline's arguments, every one passed explicitly:
motion_strength 0..1 → motion_bucket_id 1..255; fps (SVD is conditioned on it and it is the
clip's frame rate); num_frames, at most the loaded UNet's ``config.num_frames`` (25 for the XT
model, 14 for the original); num_inference_steps; noise_aug_strength; ``extra``'s
min_guidance_scale, max_guidance_scale and decode_chunk_size; the seed, through a
``torch.Generator`` on the run device. The input image is centre-cropped to the target aspect
and resized to width x height (multiples of 64), never stretched.

``extra["quality"] == "turbo"`` (the API's ``quality=turbo``) runs the steps with DeepCache-style
feature reuse (workers/engines/turbo.py): faster, approximate, priced lower; anything else
(``standard``, or none) is the stock pipeline.

SVD ignores the pipeline's interrupt flag, so a cancel is the progress callback raising
``GenerationCanceled`` from ``callback_on_step_end`` (or from a decode report).
"""

from __future__ import annotations

from contextlib import nullcontext

from PIL import Image, ImageOps, UnidentifiedImageError

from workers.engines.base import Clip, EngineError, ProgressCallback, VideoRequest
from workers.engines.diffusion import (
    DiffusionEngine,
    call_with_oom_retry,
    check_size,
    decode_chunks,
    frames_to_uint8,
    reporting_decode,
    seeded_generator,
    step_end_callback,
    wants_cpu_offload,
)
from workers.engines.turbo import DEFAULT_INTERVAL, FeatureReuseUNet, feature_reuse

DEFAULT_DECODE_CHUNK = 8
DEFAULT_MIN_GUIDANCE = 1.0
DEFAULT_MAX_GUIDANCE = 3.0


def motion_bucket_id(motion_strength: float) -> int:
    """0..1 → 1..255 (0.5 → 128, close to SVD's default of 127)."""
    m = min(1.0, max(0.0, float(motion_strength)))
    return 1 + int(254 * m + 0.5)  # round half up


def fit_image(image_path: str | None, width: int, height: int) -> Image.Image:
    """The still, upright, RGB, centre-cropped to width:height and resized to width x height."""
    if not image_path:
        raise EngineError("An image is required for an image-to-video generation.")
    try:
        with Image.open(image_path) as im:
            im = ImageOps.exif_transpose(im).convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise EngineError("The input image could not be read.") from exc
    return ImageOps.fit(im, (width, height), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def turbo_unet(loaded) -> FeatureReuseUNet:
    """The pipeline's feature-reuse stand-in, made once (compiled when the UNet is)."""
    if loaded.turbo is None:
        compiled = any(o.startswith("compile(") for o in loaded.optimizations)
        loaded.turbo = FeatureReuseUNet(
            loaded.pipe.unet,
            interval=DEFAULT_INTERVAL,
            compile_mode="default" if compiled else None,
        )
    return loaded.turbo


class SVDEngine(DiffusionEngine):
    name = "svd"
    setting = "SVD_MODEL"
    pipeline_class_name = "StableVideoDiffusionPipeline"

    def generate(self, request: VideoRequest, *, progress: ProgressCallback) -> Clip:
        if request.kind != "image_to_video":
            raise EngineError(f"The svd engine makes image-to-video clips, not {request.kind!r}.")
        w, h, n = request.width, request.height, request.num_frames
        check_size(w, h, engine=self.name)
        if request.num_inference_steps < 1:
            raise EngineError("The number of inference steps must be at least 1.")
        if request.fps < 1:
            raise EngineError("The frame rate must be at least 1.")
        image = fit_image(request.image_path, w, h)
        extra = request.extra or {}

        loaded = self.load(progress, cpu_offload=wants_cpu_offload(extra))
        pipe = loaded.pipe
        limit = int(pipe.unet.config.num_frames)
        if not 1 <= n <= limit:
            raise EngineError(
                f"This SVD model makes at most {limit} frames per clip (asked for {n}); "
                f"ask for {limit} or fewer."
            )
        chunk = max(1, int(extra.get("decode_chunk_size") or DEFAULT_DECODE_CHUNK))
        steps = int(request.num_inference_steps)
        # Only "turbo" changes anything: other quality names (a storyboard scene may carry one) are stock.
        turbo = extra.get("quality") == "turbo"

        def attempt(low_memory: bool):
            decode_chunk = 1 if low_memory else min(chunk, n)
            with (
                reporting_decode(pipe.vae, progress, chunks=decode_chunks(n, decode_chunk)),
                feature_reuse(pipe, unet=turbo_unet(loaded)) if turbo else nullcontext(),
            ):
                return pipe(
                    image=image,
                    height=h,
                    width=w,
                    num_frames=n,
                    num_inference_steps=steps,
                    sigmas=None,
                    min_guidance_scale=float(extra.get("min_guidance_scale", DEFAULT_MIN_GUIDANCE)),
                    max_guidance_scale=float(extra.get("max_guidance_scale", DEFAULT_MAX_GUIDANCE)),
                    fps=int(request.fps),
                    motion_bucket_id=motion_bucket_id(request.motion_strength),
                    noise_aug_strength=float(request.noise_aug_strength),
                    decode_chunk_size=decode_chunk,
                    num_videos_per_prompt=1,
                    generator=seeded_generator(loaded.device, request.seed),
                    latents=None,
                    output_type="np",
                    callback_on_step_end=step_end_callback(progress, steps),
                    callback_on_step_end_tensor_inputs=["latents"],
                    return_dict=True,
                ).frames

        notes: list[str] = []
        with loaded.lock:
            frames = call_with_oom_retry(attempt, loaded=loaded, engine=self.name, notes=notes)
        video = frames_to_uint8(frames[0], engine=self.name)
        notes.insert(
            0,
            f"svd: motion bucket {motion_bucket_id(request.motion_strength)}, "
            f"{steps} steps, seed {request.seed}"
            + (f", turbo (the whole UNet every {DEFAULT_INTERVAL} steps)" if turbo else ""),
        )
        return Clip(
            frames=list(video),
            width=w,
            height=h,
            fps=float(request.fps),
            num_frames=len(video),
            engine=self.name,
            notes=notes,
        )
