"""The deployment's own servers (Debian's nginx and PgBouncer) for tests that start them."""

from __future__ import annotations

import os
import shutil

import pytest


def require_binary(name: str, package: str) -> str:
    """The path of ``name``; without it a test is skipped on a developer's machine, but
    fails in CI (CI=true), where .ci/run installs ``package``."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin")
    if found is not None:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is missing in CI: .ci/run installs Debian's {package}")
    pytest.skip(f"needs {name} (apt-get install {package})")
