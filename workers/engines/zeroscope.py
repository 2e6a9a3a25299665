"""Zeroscope (text to video) through diffusers' TextToVideoSDPipeline.

The prompt arrives final: prompt enhancement (workers/prompts.py) happens when the generation
is created, so the user sees the exact words the model got. Every ``__call__`` argument is
passed explicitly. ``TextToVideoSDPipeline`` predates ``callback_on_step_end`` (diffusers marks
the pipeline deprecated but keeps it), so steps are reported through its ``callback`` /
``callback_steps=1``; a cancel is the progress callback raising ``GenerationCanceled`` there.

The pipeline decodes every frame in one VAE call; the engine cuts that call into chunks of
``decode_chunk_size`` frames (``extra``, default 8): lower peak memory, and a ("decoding", k, n)
report per chunk. The VAE is a per-frame 2D autoencoder, so the frames are the same either way.
"""

from __future__ import annotations

from workers.engines.base import Clip, EngineError, ProgressCallback, VideoRequest
from workers.engines.diffusion import (
    DiffusionEngine,
    call_with_oom_retry,
    check_size,
    decode_chunks,
    frames_to_uint8,
    reporting_decode,
    seeded_generator,
    wants_cpu_offload,
)

DEFAULT_DECODE_CHUNK = 8
MAX_FRAMES = 120


class ZeroscopeEngine(DiffusionEngine):
    name = "zeroscope"
    setting = "ZEROSCOPE_MODEL"
    pipeline_class_name = "TextToVideoSDPipeline"

    def generate(self, request: VideoRequest, *, progress: ProgressCallback) -> Clip:
        if request.kind != "text_to_video":
            raise EngineError(
                f"The zeroscope engine makes text-to-video clips, not {request.kind!r}."
            )
        prompt = request.prompt.strip()
        if not prompt:
            raise EngineError("A prompt is required for a text-to-video generation.")
        w, h, n = request.width, request.height, request.num_frames
        check_size(w, h, engine=self.name)
        if not 1 <= n <= MAX_FRAMES:
            raise EngineError(f"Zeroscope makes between 1 and {MAX_FRAMES} frames per clip.")
        if request.num_inference_steps < 1:
            raise EngineError("The number of inference steps must be at least 1.")
        extra = request.extra or {}
        steps = int(request.num_inference_steps)
        chunk = max(1, int(extra.get("decode_chunk_size") or DEFAULT_DECODE_CHUNK))

        loaded = self.load(progress, cpu_offload=wants_cpu_offload(extra))
        pipe = loaded.pipe

        def on_step(step: int, timestep, latents) -> None:
            progress("generating", step + 1, steps)

        def attempt(low_memory: bool):
            decode_chunk = 1 if low_memory else min(chunk, n)
            chunks = decode_chunks(n, decode_chunk)
            with reporting_decode(pipe.vae, progress, chunks=chunks, split=decode_chunk):
                return pipe(
                    prompt=prompt,
                    height=h,
                    width=w,
                    num_frames=n,
                    num_inference_steps=steps,
                    guidance_scale=float(request.guidance_scale),
                    negative_prompt=request.negative_prompt.strip() or None,
                    eta=0.0,
                    generator=seeded_generator(loaded.device, request.seed),
                    latents=None,
                    prompt_embeds=None,
                    negative_prompt_embeds=None,
                    output_type="np",
                    return_dict=True,
                    callback=on_step,
                    callback_steps=1,
                    cross_attention_kwargs=None,
                    clip_skip=None,
                ).frames

        notes: list[str] = []
        with loaded.lock:
            frames = call_with_oom_retry(attempt, loaded=loaded, engine=self.name, notes=notes)
        video = frames_to_uint8(frames[0], engine=self.name)
        notes.insert(
            0, f"zeroscope: {steps} steps, guidance {request.guidance_scale:g}, seed {request.seed}"
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
