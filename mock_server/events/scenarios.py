"""Scenarios: YAML scripts of timed events, for people who want to watch a screen move.

A scenario is checked whole at load (its size with YAML aliases expanded, the file's shape,
each step's event type and data against the spec), with errors naming the file, the step and
the field; then a thread replays it through the one event path, `EventBus.publish`, once or
on a loop (a new round at most once per MIN_LOOP_PERIOD_S).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from envoy_events_kit import resource_path

from ..api.errors import ApiError
from .bus import EventBus
from .expansion import RecursiveAlias, json_size

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
BUNDLED = ("shipment-journey",)
#: Bounds of a scenario, aliases expanded (a YAML anchor bomb of 553 bytes used to expand to
#: a 33.6 MB `GET /__mock__/events`): the file, each step's data (what a `POST
#: /__mock__/events` body may hold) and all steps together. Steps: at most 10,000.
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_STEP_BYTES = 64 * 1024
MAX_SCENARIO_BYTES = 8 * 1024 * 1024
#: A looping scenario starts a new round at most this often, however short its `after`s
#: (a loop of steps that all wait 0 s would otherwise publish as fast as a CPU allows).
MIN_LOOP_PERIOD_S = 1.0
_SHAPE = Draft202012Validator({
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "steps"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"},
        "description": {"type": "string"},
        "steps": {
            "type": "array", "minItems": 1, "maxItems": 10_000,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["type", "data"],
                "properties": {
                    "after": {"type": "number", "minimum": 0, "maximum": 86_400},
                    "type": {"type": "string"},
                    "data": {"type": "object"},
                    "channel": {"type": "string"},
                    "organisation": {"type": "string"},
                    "namespace": {"type": "string"},
                },
            },
        },
    },
})


class ScenarioError(ValueError):
    """A scenario file that cannot be played; names the file, the step and the field."""


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    steps: tuple[dict[str, Any], ...]
    description: str = ""


def bundled_path(name: str) -> Path:
    return resource_path("fixtures", "scenarios", f"{name}.yaml")


def load(source: str | Path, bus: EventBus) -> Scenario:
    """A scenario from a file path or a bundled name, checked whole (ScenarioError)."""
    path = Path(source)
    if not path.suffix and str(source) in BUNDLED:
        path = bundled_path(str(source))
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ScenarioError(f"{path}: over {MAX_FILE_BYTES // 2**20} MiB; a scenario file "
                                "may hold that much")
        data = yaml.load(path.read_text(), Loader=_Loader)
    except OSError as exc:
        hint = f" (bundled: {', '.join(BUNDLED)})"
        raise ScenarioError(f"{path}: cannot read it: {exc.strerror or exc}{hint}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not YAML: {exc}".splitlines()[0]) from exc
    except RecursionError:
        raise ScenarioError(f"{path}: nested too deeply") from None
    sizes = _expanded_sizes(path, data)
    error = next(iter(sorted(_SHAPE.iter_errors(data), key=lambda e: list(e.absolute_path))),
                 None)
    if error is not None:
        raise ScenarioError(f"{path}: {_where(error.absolute_path)}: {error.message}")
    for number, step in enumerate(data["steps"]):
        size = json_size(step["data"], sizes)
        if size > MAX_STEP_BYTES:
            raise ScenarioError(f"{path}: steps/{number}/data: {size:,} bytes once its aliases "
                                f"are expanded; a step's data may hold {MAX_STEP_BYTES // 1024} "
                                "KiB (as a POST /__mock__/events body)")
        try:
            bus.check(step["type"], step["data"], channel=step.get("channel"),
                      organisation=step.get("organisation"), namespace=step.get("namespace"))
        except ApiError as exc:
            raise ScenarioError(f"{path}: steps/{number} ({step['type']}): {exc.message}") \
                from None
    return Scenario(data["name"], path, tuple(data["steps"]), data.get("description", ""))


def _expanded_sizes(path: Path, data: Any) -> dict[int, int]:
    """Refuse a document whose aliases expand past MAX_SCENARIO_BYTES (or that contains
    itself); returns the sizes measured, to measure each step from."""
    sizes: dict[int, int] = {}
    try:
        size = json_size(data, sizes)
    except RecursiveAlias:
        raise ScenarioError(f"{path}: an alias refers to a node that contains it") from None
    except RecursionError:
        raise ScenarioError(f"{path}: nested too deeply") from None
    if size > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{path}: {size:,} bytes once its aliases are expanded; a "
                            f"scenario may hold {MAX_SCENARIO_BYTES // 2**20} MiB")
    return sizes


def _where(parts: Any) -> str:
    return "/".join(str(p) for p in parts) or "(top level)"


@dataclass
class Playback:
    """One running scenario."""

    scenario: Scenario
    loop: bool
    published: int = 0
    #: The last refusals (a loop over a deprovisioned organisation refuses forever).
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=10))
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.scenario.name, "steps": len(self.scenario.steps),
                "loop": self.loop, "published": self.published, "errors": list(self.errors),
                "running": bool(self.thread and self.thread.is_alive())}


class ScenarioPlayer:
    """Plays scenarios through the event bus; `stop_all()` on reset and shutdown."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._lock = threading.Lock()
        self.known: dict[str, Scenario] = {}
        self.playing: dict[str, Playback] = {}

    def add(self, scenario: Scenario) -> None:
        self.known[scenario.name] = scenario

    def scenario(self, name: str) -> Scenario:
        """A loaded scenario, or a bundled one loaded now; KeyError when neither."""
        if name not in self.known:
            if name not in BUNDLED:
                raise KeyError(name)
            self.add(load(name, self._bus))
        return self.known[name]

    def play(self, name: str, loop: bool = False) -> Playback:
        scenario = self.scenario(name)
        with self._lock:
            previous = self.playing.get(name)
            if previous is not None:
                previous.stop.set()
            playback = Playback(scenario, loop)
            playback.thread = threading.Thread(target=self._run, args=(playback,),
                                               name=f"scenario-{name}", daemon=True)
            self.playing[name] = playback
        playback.thread.start()
        return playback

    def stop_all(self) -> None:
        with self._lock:
            playing, self.playing = list(self.playing.values()), {}
        for playback in playing:
            playback.stop.set()
        for playback in playing:
            if playback.thread is not None and playback.thread is not threading.current_thread():
                playback.thread.join(timeout=5)

    def _run(self, playback: Playback) -> None:
        while not playback.stop.is_set():
            began = time.monotonic()
            for number, step in enumerate(playback.scenario.steps):
                if playback.stop.wait(step.get("after", 0)):
                    return
                try:
                    self._bus.publish(step["type"], step["data"], channel=step.get("channel"),
                                      organisation=step.get("organisation"),
                                      namespace=step.get("namespace"))
                    playback.published += 1
                except ApiError as exc:  # e.g. the organisation was deprovisioned meanwhile
                    playback.errors.append(f"steps/{number}: {exc.status} {exc.message}")
            if not playback.loop:
                return
            rest = MIN_LOOP_PERIOD_S - (time.monotonic() - began)
            if rest > 0 and playback.stop.wait(rest):
                return
