"""Operator prompts: which apply when, where their images come from, the virtual bench's defaults.

An image named by a prompt is a file in the station file's folder, else one shipped with the rig
(rig/station_ui/static/img/); a name found in neither is refused when the station starts."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from rig.station import OperatorPrompt, StationError

SHIPPED_IMAGES = "static/img"

# The virtual bench stands for a line station: a newcomer sees the prompts a line would declare.
DEFAULT_PROMPTS = (
    OperatorPrompt(when="before_run", text="Insert the unit in slot {slot} and connect the electrodes",
                   image="insert-unit.svg"),
    OperatorPrompt(when="after_fail", text="Move the unit from slot {slot} to the rework tray",
                   image="rework-tray.svg"),
)


def prompts_for(prompts: list[OperatorPrompt], when: str, slot: int) -> list[OperatorPrompt]:
    return [p for p in prompts if p.when == when and (not p.slots or slot in p.slots)]


class PromptImages:
    """Prompt image names to URLs (/prompt-images/NAME) and to the files served there."""

    def __init__(self, station_folder: Path | None) -> None:
        self.station_folder = station_folder

    def url(self, name: str | None) -> str | None:
        return None if name is None else f"/prompt-images/{name}"

    def path(self, name: str) -> Path | None:
        if "/" in name or "\\" in name or name.startswith("."):
            return None
        if self.station_folder is not None:
            candidate = self.station_folder / name
            if candidate.is_file():
                return candidate
        shipped = Path(str(resources.files("rig.station_ui").joinpath(SHIPPED_IMAGES, name)))
        return shipped if shipped.is_file() else None

    def check(self, prompts: list[OperatorPrompt], source: str) -> None:
        """Every image a prompt names exists: refused at start, not when the operator needs it."""
        for index, prompt in enumerate(prompts):
            if prompt.image is not None and self.path(prompt.image) is None:
                raise StationError(f"station file {source}: prompts[{index}].image: no file {prompt.image!r} in"
                                   f" {self.station_folder or 'the station folder'} nor shipped with the rig")
