"""Open a Snakemake HTML report in headless Chromium and say what a reader saw.

The report is a single-page React app: its tables and figures appear only after its
JavaScript has run and someone clicked. `open_report` injects report_driver.js into a copy
of the report, which clicks through it inside the browser, and reads what it recorded from
Chromium's DOM dump (`--dump-dom` after `--virtual-time-budget` of page time).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

DRIVER = Path(__file__).with_name("report_driver.js")
CHECK_ID = "csrbench-check"


def chromium() -> str | None:
    """The Chromium on PATH (Debian's package is `chromium`), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class _CheckReader(HTMLParser):
    """The text of the element with id CHECK_ID (script bodies are not parsed as tags)."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.text: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if (("id", CHECK_ID)) in attrs:
            self.inside, self.text = True, ""

    def handle_endtag(self, tag: str) -> None:
        self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.text += data


def open_report(report: Path, figure: str, workdir: Path) -> dict:
    """Click through `report` in headless Chromium; {tables, figures, image, info} it saw.

    `figure` is the report path of the figure to open (e.g. results/figures/x.png). The
    page copy and the DOM dump stay in `workdir` for a look after a failure.
    """
    browser = chromium()
    if browser is None:
        raise FileNotFoundError("no chromium on PATH")
    driver = DRIVER.read_text().replace("__FIGURE__", json.dumps(figure))
    html = report.read_text()
    end = html.rindex("</body>")
    page = workdir / "opened.html"
    page.write_text(f"{html[:end]}<script>\n{driver}</script>\n{html[end:]}")
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",  # CI runs as root
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=15000",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
    dump = workdir / "dom.html"
    dump.write_text(proc.stdout)
    reader = _CheckReader()
    reader.feed(proc.stdout)
    if proc.returncode != 0 or reader.text is None:
        raise AssertionError(
            f"chromium exit {proc.returncode}, no #{CHECK_ID} in {dump}:\n{proc.stderr[-3000:]}"
        )
    return json.loads(reader.text)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])
