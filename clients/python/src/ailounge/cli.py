"""The `ailounge` command: generate, follow, list, cancel and download jobs from a shell.

Exit status: 0 done, 1 the job failed or was canceled, 2 a usage or API error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table
from rich.text import Text

from . import __version__
from .client import DEFAULT_URL, Client
from .errors import AILoungeError
from .models import Event, Generation

OK, JOB_FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130

# No markup: API messages and prompts are printed as they are ("[code]" stays visible).
out = Console(highlight=False, markup=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


class UsageError(Exception):
    pass


# -- arguments ------------------------------------------------------------------------------


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: given before or after the command, the value is kept.
    common.add_argument(
        "--url", default=argparse.SUPPRESS, help=f"server (env AILOUNGE_URL, default {DEFAULT_URL})"
    )
    common.add_argument("--token", default=argparse.SUPPRESS, help="API token (env AILOUNGE_TOKEN)")
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts"
    )
    return common


def _job_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", "-o", help="where to write the MP4 (default: <id>.mp4)")
    parser.add_argument("--no-wait", action="store_true", help="print the job and return")
    parser.add_argument("--no-download", action="store_true", help="wait, but keep no file")
    parser.add_argument("--idempotency-key", help="default: a fresh UUID")


def parser() -> argparse.ArgumentParser:
    common = _common()
    main = argparse.ArgumentParser(
        prog="ailounge",
        description="AI Lounge: turn prompts and pictures into videos.",
        parents=[common],
    )
    main.add_argument("--version", action="version", version=f"ailounge {__version__}")
    commands = main.add_subparsers(dest="command", metavar="COMMAND", required=True)

    gen = commands.add_parser("generate", parents=[common], help="make a video and download it")
    gen.add_argument("--prompt", "-p", default="")
    gen.add_argument("--image", "-i", type=Path, help="a JPEG/PNG/WebP: image to video")
    gen.add_argument("--kind", choices=["text_to_video", "image_to_video"])
    gen.add_argument("--engine", "-e", default="auto")
    gen.add_argument("--negative-prompt")
    gen.add_argument("--persona", help="one of your personas (its id)")
    gen.add_argument("--param", action="append", default=[], metavar="K=V", help="repeatable")
    _job_options(gen)

    board = commands.add_parser("storyboard", parents=[common], help="a multi-scene video")
    board.add_argument("scenes", type=Path, help="JSON: a list of scenes, or a create body")
    board.add_argument("--transition")
    board.add_argument("--transition-duration", type=float)
    board.add_argument("--quality", choices=["draft", "standard", "high", "premium"])
    board.add_argument("--chain", action="store_true", default=None)
    board.add_argument("--narration-text")
    board.add_argument("--engine", "-e")
    board.add_argument("--param", action="append", default=[], metavar="K=V")
    _job_options(board)

    again = commands.add_parser(
        "rerun", parents=[common], help="a new job from a finished one's recipe (same seed)"
    )
    again.add_argument("id")
    again.add_argument("--seed", type=int, help="another seed (default: the old job's)")
    again.add_argument("--prompt", "-p", help="another prompt")
    again.add_argument("--engine", "-e", help="another engine")
    again.add_argument("--param", action="append", default=[], metavar="K=V", help="repeatable")
    _job_options(again)

    status = commands.add_parser("status", parents=[common], help="one job")
    status.add_argument("id")
    status.add_argument("--wait", action="store_true", help="follow it until it ends")

    lst = commands.add_parser("list", parents=[common], help="your jobs, newest first")
    lst.add_argument("--page", type=int, default=1)

    cancel = commands.add_parser("cancel", parents=[common], help="cancel a job (refunded)")
    cancel.add_argument("id")

    download = commands.add_parser("download", parents=[common], help="a finished job's MP4")
    download.add_argument("id")
    download.add_argument("--out", "-o")

    quote = commands.add_parser("quote", parents=[common], help="the price of a job")
    quote.add_argument(
        "--kind", default=None, help="default text_to_video (storyboard with --scenes)"
    )
    quote.add_argument("--engine", "-e", default="auto")
    quote.add_argument("--image", action="store_true", help="price image to video")
    quote.add_argument("--scenes", type=Path, help="a storyboard's scenes (JSON)")
    quote.add_argument("--param", action="append", default=[], metavar="K=V")
    return main


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`k=v` pairs; a value that reads as JSON (8, 0.5, true, [..]) is taken as such."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--param takes key=value, not {pair!r}")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


# -- output ---------------------------------------------------------------------------------


class Display:
    """Queue position while queued, then stage, percent and ETA: a rich bar on a terminal,
    a line per change elsewhere (logs, pipes)."""

    def __init__(self, generation_id: str):
        self.id = generation_id
        self.progress: Progress | None = None
        self.task = None
        self.last: tuple | None = None

    def __enter__(self) -> Display:
        if err.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[eta]}"),
                console=err,
                transient=False,
            )
            self.progress.start()
            self.task = self.progress.add_task(f"job {self.id[:8]} starting", total=1.0, eta="")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def __call__(self, event: Event) -> None:
        description = describe(event)
        eta = f"ETA {format_seconds(event.eta_seconds)}" if event.eta_seconds is not None else ""
        if self.progress is not None:
            self.progress.update(
                self.task, description=description, completed=event.progress or 0.0, eta=eta
            )
            return
        figures = (description, round((event.progress or 0) * 100))
        if figures != self.last:
            self.last = figures
            percent = f" {figures[1]}%" if event.status == "running" else ""
            err.print(f"{description}{percent} {eta}".rstrip())


def describe(event: Event) -> str:
    if event.status == "queued":
        place = f" #{event.queue_position}" if event.queue_position else ""
        return f"queued{place}"
    if event.status == "running":
        return event.stage or "running"
    return event.status or event.type


def plural(credits: int | None) -> str:
    return "1 credit" if credits == 1 else f"{credits} credits"


def format_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds}s"


def print_json(value: Any) -> None:
    text = json.dumps(value, default=str)
    if out.is_terminal:
        out.print_json(text)
    else:
        print(text)


def print_generation(generation: Generation) -> None:
    table = Table.grid(padding=(0, 2))
    names = [
        "id", "kind", "engine", "status", "stage", "progress", "queue_position", "eta_seconds",
        "cost_credits", "prompt", "width", "height", "num_frames", "fps", "seed", "error",
        "video_url", "created_at", "finished_at",
    ]  # fmt: skip
    for name in names:
        value = getattr(generation, name)
        if value is None or value == "":
            continue
        if name == "progress":
            value = f"{value * 100:.0f}%"
        table.add_row(Text(name, style="dim"), Text(str(value)))
    out.print(table)


# -- commands -------------------------------------------------------------------------------


def follow_and_finish(client: Client, generation: Generation, args) -> int:
    """Wait for the job with the bar; Ctrl-C asks whether to cancel it. Then download."""
    if getattr(args, "no_wait", False):
        if args.json:
            print_json(generation.data)
        else:
            out.print(
                f"queued job {generation.id}; follow it: ailounge status {generation.id} --wait"
            )
        return OK
    try:
        with Display(generation.id) as display:
            generation = client.wait(generation.id, on_progress=display)
    except KeyboardInterrupt:
        return interrupted(client, generation.id)
    code = OK if generation.succeeded else JOB_FAILED
    saved = None
    if generation.succeeded and not getattr(args, "no_download", True):
        try:
            saved = client.download(generation, getattr(args, "out", None))
        except KeyboardInterrupt:
            err.print("download interrupted")
            return INTERRUPTED
    if args.json:
        print_json({**generation.data, "file": str(saved) if saved else None})
    elif generation.succeeded:
        seconds = generation.data.get("generation_time")
        took = f" in {seconds:.1f}s" if isinstance(seconds, (int, float)) else ""
        out.print(f"job {generation.id} succeeded{took} ({plural(generation.cost_credits)})")
        if saved:
            out.print(f"saved {saved}")
    else:
        err.print(f"job {generation.id} {generation.status}: {generation.error or ''}".rstrip(": "))
    return code


def interrupted(client: Client, generation_id: str) -> int:
    try:
        answer = input(f"\nCancel job {generation_id}? [y/N] ")
    except (EOFError, KeyboardInterrupt):
        answer = ""
    if answer.strip().lower() in ("y", "yes"):
        generation = client.cancel(generation_id)
        if not generation.finished:  # a running job stops at its next step
            with contextlib.suppress(TimeoutError, KeyboardInterrupt):
                generation = client.wait(generation_id, timeout=30)
        if generation.status == "canceled":
            err.print(f"canceled job {generation_id}; its credits are refunded")
        else:
            err.print(
                f"cancel requested for job {generation_id}: it stops at its next step and "
                f"its credits are refunded"
            )
        return INTERRUPTED
    err.print(
        f"\njob {generation_id} keeps running; check it with: ailounge status {generation_id}"
        f" (or ailounge download {generation_id} once it is done)"
    )
    return INTERRUPTED


def cmd_generate(client: Client, args) -> int:
    params = parse_params(args.param)
    if args.image is None and not args.prompt and not args.persona:
        raise UsageError("give --prompt, --image or both")
    generation = client.generate(
        kind=args.kind,
        prompt=args.prompt or None,
        image=args.image,
        engine=args.engine,
        params=params or None,
        persona=args.persona,
        negative_prompt=args.negative_prompt,
        idempotency_key=args.idempotency_key,
        wait=False,
    )
    if not args.json and not args.no_wait:
        err.print(f"job {generation.id} queued ({plural(generation.cost_credits)})")
    return follow_and_finish(client, generation, args)


def cmd_storyboard(client: Client, args) -> int:
    try:
        spec = json.loads(args.scenes.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {args.scenes}: {exc}") from None
    body = {"scenes": spec} if isinstance(spec, list) else dict(spec)
    body.pop("kind", None)
    base = args.scenes.parent
    scenes = []
    for scene in body.pop("scenes", None) or []:
        scene = dict(scene)
        image = scene.get("image")
        if isinstance(image, str):  # a path, relative to the JSON file
            scene["image"] = base / image
        scenes.append(scene)
    overrides = {
        "transition": args.transition,
        "transition_duration": args.transition_duration,
        "quality": args.quality,
        "chain": args.chain,
        "narration_text": args.narration_text,
        "engine": args.engine,
    }
    body.update({k: v for k, v in overrides.items() if v is not None})
    if args.param:
        body["params"] = {**(body.get("params") or {}), **parse_params(args.param)}
    generation = client.storyboard(
        scenes or None, idempotency_key=args.idempotency_key, wait=False, **body
    )
    if not args.json and not args.no_wait:
        err.print(f"storyboard {generation.id} queued ({plural(generation.cost_credits)})")
    return follow_and_finish(client, generation, args)


def cmd_rerun(client: Client, args) -> int:
    generation = client.rerun(
        args.id,
        seed=args.seed,
        params=parse_params(args.param) or None,
        prompt=args.prompt,
        engine=args.engine,
        idempotency_key=args.idempotency_key,
        wait=False,
    )
    if not args.json and not args.no_wait:
        err.print(
            f"job {generation.id} queued, seed {generation.seed} "
            f"({plural(generation.cost_credits)})"
        )
    return follow_and_finish(client, generation, args)


def cmd_status(client: Client, args) -> int:
    generation = client.get(args.id)
    if args.wait and not generation.finished:
        args.no_download = True
        return follow_and_finish(client, generation, args)
    if args.json:
        print_json(generation.data)
    else:
        print_generation(generation)
    return JOB_FAILED if generation.status in ("failed", "canceled") else OK


def cmd_list(client: Client, args) -> int:
    page = client.list(page=args.page)
    if args.json:
        print_json(page.data)
        return OK
    table = Table("id", "kind", "status", "progress", "credits", "created", "prompt")
    for g in page:
        status = g.status or ""
        if g.status == "queued" and g.queue_position:
            status += f" #{g.queue_position}"
        table.add_row(
            g.id,
            g.kind or "",
            status,
            f"{(g.progress or 0) * 100:.0f}%",
            str(g.cost_credits if g.cost_credits is not None else ""),
            (g.created_at or "")[:19].replace("T", " "),
            (g.prompt or "")[:40],
        )
    out.print(table)
    out.print(f"page {args.page}: {len(page)} of {page.count}")
    return OK


def cmd_cancel(client: Client, args) -> int:
    generation = client.cancel(args.id)
    if args.json:
        print_json(generation.data)
    elif generation.status == "canceled":
        out.print(f"canceled job {generation.id}; its credits are refunded")
    else:
        out.print(f"cancel requested for job {generation.id} ({generation.status}): it stops at "
                  "its next step and its credits are refunded")  # fmt: skip
    return OK


def cmd_download(client: Client, args) -> int:
    path = client.download(args.id, args.out)
    if args.json:
        print_json({"id": args.id, "file": str(path)})
    else:
        out.print(f"saved {path}")
    return OK


def cmd_quote(client: Client, args) -> int:
    params = parse_params(args.param)
    scenes = None
    kind = args.kind
    if args.scenes is not None:
        spec = json.loads(args.scenes.read_text())
        scenes = spec if isinstance(spec, list) else spec.get("scenes")
        kind = kind or "storyboard"
    kind = kind or ("image_to_video" if args.image else "text_to_video")
    quote = client.quote(kind, args.engine, scenes=scenes, **params)
    if args.json:
        print_json(quote.data)
    else:
        unit = "credit" if quote.credits == 1 else "credits"
        out.print(f"{quote.credits} {unit} ({kind}, engine {quote.engine or args.engine})")
    return OK


COMMANDS = {
    "generate": cmd_generate,
    "storyboard": cmd_storyboard,
    "status": cmd_status,
    "list": cmd_list,
    "cancel": cmd_cancel,
    "download": cmd_download,
    "quote": cmd_quote,
    "rerun": cmd_rerun,
}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.json = getattr(args, "json", False)
    url = getattr(args, "url", None)
    token = getattr(args, "token", None) or os.environ.get("AILOUNGE_TOKEN")
    try:
        if not token:
            raise UsageError("no token: set AILOUNGE_TOKEN or pass --token (Account settings)")
        with Client(url, token) as client:
            return COMMANDS[args.command](client, args)
    except UsageError as exc:
        err.print(f"ailounge: {exc}")
        return USAGE
    except AILoungeError as exc:
        if args.json:
            print_json(
                {"error": exc.code, "status": exc.status, "detail": exc.detail, **exc.fields}
            )
        err.print(f"ailounge: {exc.detail} [{exc.code}]")
        return USAGE
    except KeyboardInterrupt:
        err.print("interrupted")
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
