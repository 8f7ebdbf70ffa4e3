"""Scenarios: YAML scripts of timed events, for people who want to watch a screen move.

A scenario is checked whole at load (the file's shape, each step's event type and data
against the spec), with errors naming the file, the step and the field; then a thread replays
it through the one event path, `EventBus.publish`, once or on a loop.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from envoy_events_kit import resource_path

from ..api.errors import ApiError
from .bus import EventBus

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
BUNDLED = ("shipment-journey",)
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
        data = yaml.load(path.read_text(), Loader=_Loader)
    except OSError as exc:
        hint = f" (bundled: {', '.join(BUNDLED)})"
        raise ScenarioError(f"{path}: cannot read it: {exc.strerror or exc}{hint}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not YAML: {exc}".splitlines()[0]) from exc
    error = next(iter(sorted(_SHAPE.iter_errors(data), key=lambda e: list(e.absolute_path))),
                 None)
    if error is not None:
        raise ScenarioError(f"{path}: {_where(error.absolute_path)}: {error.message}")
    for number, step in enumerate(data["steps"]):
        try:
            bus.check(step["type"], step["data"], channel=step.get("channel"),
                      organisation=step.get("organisation"), namespace=step.get("namespace"))
        except ApiError as exc:
            raise ScenarioError(f"{path}: steps/{number} ({step['type']}): {exc.message}") \
                from None
    return Scenario(data["name"], path, tuple(data["steps"]), data.get("description", ""))


def _where(parts: Any) -> str:
    return "/".join(str(p) for p in parts) or "(top level)"


@dataclass
class Playback:
    """One running scenario."""

    scenario: Scenario
    loop: bool
    published: int = 0
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.scenario.name, "steps": len(self.scenario.steps),
                "loop": self.loop, "published": self.published, "errors": self.errors[-10:],
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
