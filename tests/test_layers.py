"""The import contract `make lint` runs (pyproject's [tool.importlinter]): it holds for
the code as it is, and it fails the build when a layer imports upwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(source: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(source)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=source.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_of_the_source(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "gamehub",
        source / "gamehub",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return source


def test_the_layers_hold() -> None:
    result = lint_imports(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_core_importing_a_domain_breaks_the_build(tmp_path: Path) -> None:
    source = copy_of_the_source(tmp_path)
    money = source / "gamehub" / "core" / "money.py"
    money.write_text(money.read_text() + "\nfrom gamehub.games import fairness  # noqa\n")

    result = lint_imports(source)

    assert result.returncode != 0
    assert "gamehub.core.money -> gamehub.games.fairness" in result.stdout


def test_settings_importing_a_domain_breaks_the_build(tmp_path: Path) -> None:
    source = copy_of_the_source(tmp_path)
    settings = source / "gamehub" / "settings.py"
    settings.write_text(settings.read_text() + "\nimport gamehub.accounts.service  # noqa\n")

    result = lint_imports(source)

    assert result.returncode != 0
    assert "gamehub.settings -> gamehub.accounts.service" in result.stdout


def test_a_controller_reaching_for_a_repository_breaks_the_build(tmp_path: Path) -> None:
    source = copy_of_the_source(tmp_path)
    controllers = source / "gamehub" / "wallet" / "controllers.py"
    controllers.write_text(
        controllers.read_text()
        + "\nfrom gamehub.wallet.repository import WalletRepository  # noqa\n"
    )

    result = lint_imports(source)

    assert result.returncode != 0
    assert "gamehub.wallet.controllers -> gamehub.wallet.repository" in result.stdout


def test_another_domains_repository_breaks_the_build(tmp_path: Path) -> None:
    source = copy_of_the_source(tmp_path)
    service = source / "gamehub" / "stats" / "service.py"
    service.write_text(
        service.read_text()
        + "\nfrom gamehub.accounts.repository import AccountRepository  # noqa\n"
    )

    result = lint_imports(source)

    assert result.returncode != 0
    assert "gamehub.stats.service -> gamehub.accounts.repository" in result.stdout
