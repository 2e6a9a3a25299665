"""Planning: the one place that turns a storyboard's scenes into jobs and prices them. The quote
and create both call `storyboard_plan`, so the quoted price is the charged price."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from apps.billing.pricing import price_generation, price_storyboard
from apps.core.exceptions import ApplicationError

from ..engines import engine_choose
from ..exceptions import InvalidGenerationInput
from ..models import Generation
from ..serializers import PARAMS_SERIALIZERS, params_defaults_for
from ..services import SVD_MAX_FRAMES, params_finalize, prompt_compose

MAX_SCENES = 10


DEFAULT_SCENE_SECONDS = 3.0


@dataclass
class ScenePlan:
    index: int
    kind: str
    engine: str
    engine_requested: str
    prompt: str
    duration: float
    transition: str
    params: dict
    image: object = None  # an upload, or None
    cost: int = 0


@dataclass
class StoryboardPlan:
    scenes: list[ScenePlan]
    assembly: int
    total: int
    notes: list[str] = field(default_factory=list)


def _first_error(errors) -> str:
    if isinstance(errors, dict):
        for key, value in errors.items():
            return f"{key}: {_first_error(value)}"
    if isinstance(errors, list) and errors:
        return _first_error(errors[0])
    return str(errors)


def storyboard_plan(
    *,
    scenes: list[dict],
    engine: str = "auto",
    params: dict | None = None,
    chain: bool = False,
    persona=None,
    transition: str = "crossfade",
) -> StoryboardPlan:
    """Each scene's kind, engine, finished params and price; the assembly; the total.

    `scenes`: dicts with `prompt`, `image` (an upload, True when one is announced, or None),
    `duration`, and optional `transition`, `engine`, `params`. A scene with an image, and with
    `chain` every scene after the first (and the first when the persona has a reference image),
    is image-to-video; the others are text-to-video and need a prompt. The quote endpoint and
    create both call this, so the quoted price is the charged price.
    """

    if not scenes:
        raise InvalidGenerationInput("scenes: give at least one scene (or a story).")
    if len(scenes) > MAX_SCENES:
        raise InvalidGenerationInput(f"scenes: at most {MAX_SCENES} scenes per storyboard.")
    defaults = dict(params or {})
    every_param = {name for cls in PARAMS_SERIALIZERS.values() for name in cls().fields}
    unknown = sorted(set(defaults) - every_param)
    if unknown:
        raise InvalidGenerationInput(f"params: {unknown[0]}: Unknown parameter.")
    persona_image = bool(persona is not None and persona.reference_image)
    plans: list[ScenePlan] = []
    for index, scene in enumerate(scenes):
        where = f"scenes[{index}]"
        has_image = bool(scene.get("image"))
        if has_image or (chain and (index > 0 or persona_image)):
            kind = Generation.Kind.IMAGE_TO_VIDEO
        else:
            kind = Generation.Kind.TEXT_TO_VIDEO
        prompt = (scene.get("prompt") or "").strip()
        if kind == Generation.Kind.TEXT_TO_VIDEO and not prompt:
            raise InvalidGenerationInput(f"{where}: give a prompt or an image.")
        duration = float(scene.get("duration") or DEFAULT_SCENE_SECONDS)
        serializer_class = PARAMS_SERIALIZERS[kind]
        known = serializer_class().fields
        raw = {}
        if persona is not None:
            raw.update(params_defaults_for(serializer_class, persona.defaults))
        raw.update(params_defaults_for(serializer_class, defaults))
        raw.update(scene.get("params") or {})
        frames_given = "num_frames" in raw
        if not frames_given:
            fps = raw.get("fps", known["fps"].default)
            with contextlib.suppress(TypeError, ValueError):  # the serializer names a bad fps
                raw["num_frames"] = min(120, max(2, round(duration * float(fps))))
        checked = serializer_class(data=raw)
        if not checked.is_valid():
            raise InvalidGenerationInput(f"{where}.params: {_first_error(checked.errors)}")
        scene_params = dict(checked.validated_data)
        requested = scene.get("engine") or engine
        try:
            resolved = engine_choose(kind=kind, requested=requested)
        except ApplicationError as exc:  # say which scene (400 invalid, 503 unavailable)
            exc.message = f"{where}.{exc.message}"
            raise
        if resolved == "svd" and not frames_given:
            scene_params["num_frames"] = min(scene_params["num_frames"], SVD_MAX_FRAMES)
        try:
            scene_params = params_finalize(kind=kind, engine=resolved, params=scene_params)
        except InvalidGenerationInput as exc:
            raise InvalidGenerationInput(f"{where}.{exc.message}") from None
        final_prompt = prompt_compose(
            kind=kind, engine=resolved, prompt=prompt, persona=persona, params=scene_params
        )
        if final_prompt != prompt:
            scene_params["final_prompt"] = final_prompt
        scene_params["engine_requested"] = requested
        plans.append(
            ScenePlan(
                index=index,
                kind=kind,
                engine=resolved,
                engine_requested=requested,
                prompt=prompt,
                duration=duration,
                transition=scene.get("transition") or transition,
                params=scene_params,
                image=scene.get("image") if has_image else None,
            )
        )
    priced = [{"kind": p.kind, "engine": p.engine, "params": p.params} for p in plans]
    price = price_storyboard(engine="procedural", scenes=priced)
    for plan, cost in zip(plans, price.scenes, strict=True):
        plan.cost = cost
    total = price_generation(kind="storyboard", engine="procedural", params={"scenes": priced})
    return StoryboardPlan(scenes=plans, assembly=price.assembly, total=total)


def storyboard_quote(
    *,
    scenes: list[dict],
    engine: str = "auto",
    params: dict | None = None,
    chain: bool = False,
    persona=None,
) -> StoryboardPlan:
    """The price of a storyboard without creating it: the same plan as create."""
    return storyboard_plan(
        scenes=scenes, engine=engine, params=params, chain=chain, persona=persona
    )
