"""SVD's turbo tier: DeepCache-style feature reuse across denoising steps.

A UNet's deep features change slowly from one denoising step to the next; its shallow ones
(the first down block and the last up block, at full resolution) carry the detail. DeepCache
(Ma et al., 2023) runs the whole UNet only every ``interval`` steps and keeps the feature that
enters the last up block; the steps between run only the shallow path (``conv_in``, the first
down block, then the last up block on the kept feature and the fresh skip connections, then the
output convolution). With the default interval of 3, 9 of SVD-XT's 25 steps run the whole UNet
and 16 run about a tenth of it.

This is an approximation, labelled as such: the output is not stock's. BENCHMARKS.md
("Diffusion engines", "Turbo") gives its speed-up and its distance from stock (mean |Δ| and
PSNR per frame, same seed). ``interval=1`` runs the whole UNet at every step and gives stock's
output exactly (the forward below is diffusers' ``UNetSpatioTemporalConditionModel.forward``,
split in two).

Use: ``with feature_reuse(pipe, interval=3): pipe(...)`` — the pipeline's ``unet`` is swapped
for a ``FeatureReuseUNet`` for that call only (one generation: the step counter and the kept
feature start afresh each time) and put back afterwards, even on an error or a cancel.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

DEFAULT_INTERVAL = 3


@dataclass
class ReuseStats:
    full: int = 0  # steps that ran the whole UNet
    shallow: int = 0  # steps that reused the deep feature


class FeatureReuseUNet:
    """Stands in for the pipeline's UNet: full forward every ``interval`` calls, shallow between.

    Attribute reads (``config``, ``dtype``, ``add_embedding``...) go to the real UNet. With
    ``compile_mode``, both paths are ``torch.compile``d (once per object; keep the object to
    keep the compiled code).
    """

    def __init__(
        self, unet: Any, *, interval: int = DEFAULT_INTERVAL, compile_mode: str | None = None
    ):
        if interval < 1:
            raise ValueError("the feature-reuse interval must be at least 1")
        self.outer = unet  # what the pipeline had (maybe a compiled wrapper)
        self.module = getattr(unet, "_orig_mod", unet)
        self.interval = int(interval)
        self.clone_cached = compile_mode == "reduce-overhead"  # CUDA graphs reuse their outputs
        self._full = self._full_forward
        self._shallow = self._shallow_forward
        if compile_mode:
            self._full = torch.compile(self._full_forward, mode=compile_mode)
            self._shallow = torch.compile(self._shallow_forward, mode=compile_mode)
        self.reset()

    def reset(self) -> None:
        self.calls = 0
        self.cached: torch.Tensor | None = None
        self.stats = ReuseStats()

    def __getattr__(self, name: str) -> Any:
        # Only reached for names not set in __init__: the pipeline's reads of the UNet's own.
        return getattr(self.__dict__["outer"], name)

    def __call__(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        added_time_ids: torch.Tensor,
        return_dict: bool = True,
    ):
        from diffusers.models.unets.unet_spatio_temporal_condition import (
            UNetSpatioTemporalConditionOutput,
        )

        hook = getattr(self.module, "_hf_hook", None)
        if hook is not None:  # CPU offload: the UNet goes to the GPU when its forward would run
            hook.pre_forward(self.module)
        timesteps = _timesteps(timestep, sample)
        full = self.cached is None or self.calls % self.interval == 0
        self.calls += 1
        if full:
            out, cached = self._full(sample, timesteps, encoder_hidden_states, added_time_ids)
            self.cached = cached.clone() if self.clone_cached else cached
            self.stats.full += 1
        else:
            out = self._shallow(
                sample, timesteps, encoder_hidden_states, added_time_ids, self.cached
            )
            self.stats.shallow += 1
        return UNetSpatioTemporalConditionOutput(sample=out) if return_dict else (out,)

    # --- the two paths (diffusers' forward, split before the last up block) -------------------

    def _embed(self, sample, timesteps, encoder_hidden_states, added_time_ids):
        m = self.module
        batch_size, num_frames = sample.shape[:2]
        timesteps = timesteps.expand(batch_size)
        emb = m.time_embedding(m.time_proj(timesteps).to(dtype=sample.dtype))
        time_embeds = m.add_time_proj(added_time_ids.flatten()).reshape((batch_size, -1))
        emb = emb + m.add_embedding(time_embeds.to(emb.dtype))
        emb = emb.repeat_interleave(num_frames, dim=0, output_size=emb.shape[0] * num_frames)
        encoder_hidden_states = encoder_hidden_states.repeat_interleave(
            num_frames, dim=0, output_size=encoder_hidden_states.shape[0] * num_frames
        )
        indicator = torch.zeros(batch_size, num_frames, dtype=sample.dtype, device=sample.device)
        return emb, encoder_hidden_states, indicator

    def _down(self, block, sample, emb, encoder_hidden_states, indicator):
        if getattr(block, "has_cross_attention", False):
            return block(
                hidden_states=sample,
                temb=emb,
                encoder_hidden_states=encoder_hidden_states,
                image_only_indicator=indicator,
            )
        return block(hidden_states=sample, temb=emb, image_only_indicator=indicator)

    def _up(self, block, sample, res, emb, encoder_hidden_states, indicator, upsample_size):
        if getattr(block, "has_cross_attention", False):
            return block(
                hidden_states=sample,
                temb=emb,
                res_hidden_states_tuple=res,
                encoder_hidden_states=encoder_hidden_states,
                upsample_size=upsample_size,
                image_only_indicator=indicator,
            )
        return block(
            hidden_states=sample,
            temb=emb,
            res_hidden_states_tuple=res,
            upsample_size=upsample_size,
            image_only_indicator=indicator,
        )

    def _out(self, sample, batch_size, num_frames):
        m = self.module
        sample = m.conv_out(m.conv_act(m.conv_norm_out(sample)))
        return sample.reshape(batch_size, num_frames, *sample.shape[1:])

    def _full_forward(self, sample, timesteps, encoder_hidden_states, added_time_ids):
        m = self.module
        batch_size, num_frames = sample.shape[:2]
        forward_upsample_size = any(s % 2**m.num_upsamplers for s in sample.shape[-2:])
        emb, ehs, indicator = self._embed(sample, timesteps, encoder_hidden_states, added_time_ids)
        sample = m.conv_in(sample.flatten(0, 1))
        res_all: tuple = (sample,)
        for block in m.down_blocks:
            sample, res = self._down(block, sample, emb, ehs, indicator)
            res_all += res
        sample = m.mid_block(
            hidden_states=sample,
            temb=emb,
            encoder_hidden_states=ehs,
            image_only_indicator=indicator,
        )
        last = len(m.up_blocks) - 1
        for i, block in enumerate(m.up_blocks):
            res = res_all[-len(block.resnets) :]
            res_all = res_all[: -len(block.resnets)]
            upsample_size = None
            if i < last and forward_upsample_size:
                upsample_size = res_all[-1].shape[2:]
            if i == last:
                cached = sample
            sample = self._up(block, sample, res, emb, ehs, indicator, upsample_size)
        return self._out(sample, batch_size, num_frames), cached

    def _shallow_forward(self, sample, timesteps, encoder_hidden_states, added_time_ids, cached):
        m = self.module
        batch_size, num_frames = sample.shape[:2]
        emb, ehs, indicator = self._embed(sample, timesteps, encoder_hidden_states, added_time_ids)
        sample = m.conv_in(sample.flatten(0, 1))
        _, res = self._down(m.down_blocks[0], sample, emb, ehs, indicator)
        block = m.up_blocks[-1]
        skips = ((sample, *res))[: len(block.resnets)]
        out = self._up(block, cached, skips, emb, ehs, indicator, None)
        return self._out(out, batch_size, num_frames)


def _timesteps(timestep, sample: torch.Tensor) -> torch.Tensor:
    if not torch.is_tensor(timestep):
        dtype = torch.float64 if isinstance(timestep, float) else torch.int64
        return torch.tensor([timestep], dtype=dtype, device=sample.device)
    if timestep.ndim == 0:
        return timestep[None].to(sample.device)
    return timestep


@contextmanager
def feature_reuse(
    pipe: Any, *, interval: int = DEFAULT_INTERVAL, unet: FeatureReuseUNet | None = None
) -> Iterator[FeatureReuseUNet]:
    """Run ``pipe``'s calls inside the block with feature reuse; yields the stand-in (its stats).

    ``unet``: a ``FeatureReuseUNet`` made earlier for this pipeline (to keep its compiled code).
    The swap goes around ``DiffusionPipeline.__setattr__`` so the pipeline's config is untouched.
    """
    original = pipe.__dict__["unet"]
    stand_in = unet if unet is not None else FeatureReuseUNet(original, interval=interval)
    stand_in.reset()
    pipe.__dict__["unet"] = stand_in
    try:
        yield stand_in
    finally:
        pipe.__dict__["unet"] = original


def frame_distance(frames: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    """Mean |Δ| (0..255) and PSNR (dB) per frame of ``frames`` against ``reference``.

    Both (F, H, W, 3), floats in 0..1 or uint8. A frame identical to its reference has
    PSNR ``inf``. Returns per-frame lists and their means (the PSNR mean over finite frames).
    """
    a = _as_255(frames)
    b = _as_255(reference)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    diff = a - b
    mad = np.abs(diff).reshape(a.shape[0], -1).mean(axis=1)
    mse = (diff**2).reshape(a.shape[0], -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        psnr = np.where(mse > 0, 10 * np.log10(255.0**2 / np.maximum(mse, 1e-300)), np.inf)
    finite = psnr[np.isfinite(psnr)]
    return {
        "mean_abs_diff": [round(float(x), 3) for x in mad],
        "psnr_db": [round(float(x), 2) if np.isfinite(x) else float("inf") for x in psnr],
        "mean_abs_diff_mean": round(float(mad.mean()), 3),
        "psnr_db_mean": round(float(finite.mean()), 2) if finite.size else float("inf"),
        "psnr_db_min": round(float(psnr.min()), 2),
    }


def _as_255(frames: np.ndarray) -> np.ndarray:
    x = np.asarray(frames)
    if x.dtype == np.uint8:
        return x.astype(np.float64)
    return np.clip(x.astype(np.float64), 0.0, 1.0) * 255.0
