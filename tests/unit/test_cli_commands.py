"""The `rig` command registers only subcommands that exist; a missing one is an error, not skipped."""

from __future__ import annotations

import importlib.util

import pytest

from rig import cli


def test_every_registered_command_module_exists() -> None:
    missing = [name for name in cli.COMMAND_MODULES if importlib.util.find_spec(name) is None]
    assert missing == []


def test_a_missing_command_module_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "rig.commands.no_such_cmd"))
    with pytest.raises(ModuleNotFoundError, match="no_such_cmd"):
        cli.build_parser()
