"""Headless Chromium from Debian's packages, for tests that look at the HTML report as a reader does."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

PACKAGE = "chromium-headless-shell"
BINARIES = ("chromium-headless-shell", "chromium", "chromium-browser")
# Root in a container has no user namespace for Chromium's sandbox.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"]


class BrowserUnavailable(RuntimeError):
    """Raised when no Chromium is installed and apt-get cannot install one."""


def chromium() -> str:
    """The Chromium binary, apt-getting Debian's headless shell first when none is installed (as root)."""
    found = next((shutil.which(name) for name in BINARIES if shutil.which(name)), None)
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BrowserUnavailable(f"no Chromium ({', '.join(BINARIES)}) and apt-get needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", PACKAGE]):
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode:
            raise BrowserUnavailable(f"{' '.join(command)} failed: {result.stderr.strip()[-500:]}")
    return shutil.which(PACKAGE) or f"/usr/bin/{PACKAGE}"


def dump_dom(binary: str, page: Path, budget_ms: int = 20000) -> str:
    """The page's DOM after its scripts ran (up to ``budget_ms`` of virtual time)."""
    result = subprocess.run([binary, *FLAGS, f"--virtual-time-budget={budget_ms}", "--dump-dom", page.as_uri()],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def screenshot(binary: str, page: Path, out: Path, size: str = "1400,1000", budget_ms: int = 20000) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([binary, *FLAGS, f"--virtual-time-budget={budget_ms}", f"--window-size={size}",
                             f"--screenshot={out}", page.as_uri()], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and out.exists(), result.stderr[-2000:]
    return out


def with_script(page: Path, script: str, out: Path) -> Path:
    """A copy of ``page`` that runs ``script`` after its own scripts."""
    text = page.read_text(encoding="utf-8")
    at = text.rfind("</body>")
    at = len(text) if at < 0 else at
    out.write_text(text[:at] + f"<script>{script}</script>" + text[at:], encoding="utf-8")
    return out


def element_text(dom: str, element_id: str) -> str:
    """The unescaped text of the element with ``element_id`` in a dumped DOM."""
    match = re.search(rf'<pre id="{element_id}">(.*?)</pre>', dom, flags=re.S)
    assert match, f"#{element_id} not in the page: its script did not finish"
    return html.unescape(match.group(1))
