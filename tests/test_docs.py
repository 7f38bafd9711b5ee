"""Docs stay true: every CLI command, setting and stage is in the README."""

from __future__ import annotations

import argparse
from pathlib import Path

from studio.cli import build_parser
from studio.config import Settings
from studio.model import Stage

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_cli_command_is_documented():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [name for name in sub.choices if f"`studio {name}" not in README]
    assert not missing, f"undocumented commands: {missing}"


def test_every_setting_is_documented():
    missing = [f for f in Settings.model_fields if f"AIUTEUR_{f.upper()}" not in README]
    assert not missing, f"undocumented settings: {missing}"


def test_every_stage_is_documented():
    missing = [s.title for s in Stage if s.title not in README]
    assert not missing


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one():
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line.strip() for line in section.splitlines() if line.startswith("    ")]
    assert commands == ["make run", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_troubleshooting_covers_the_failures_users_meet():
    section = README.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    for topic in ("LLM is down", "runs out of memory", "never finishes", "8 GB", "24 GB"):
        assert topic in section, topic
