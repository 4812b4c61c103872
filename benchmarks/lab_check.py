"""JupyterLab after `make figures`: open 01_dcgan.ipynb on the repository's own notebooks, Run All, time it, move a
latent slider and take screenshots (what a user does after `make lab`).

    python benchmarks/lab_check.py --out /tmp/lab-check      # after `make figures`: uses runs/ and figures/

Needs Debian's chromium and the playwright package; starts JupyterLab on 127.0.0.1 with an empty token. The
notebook's parameters are left as committed (None), so it opens on what `make figures` last trained.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_util import CHROMIUM_ARGS, LabServer, find_chromium  # noqa: E402

NOTEBOOK = "notebooks/01_dcgan.ipynb"
IMG = "img.widget-image"
RUN_ALL_JS = """(path) => {
    for (const w of Array.from(window.jupyterapp.shell.widgets('main'))) {
        if (w.context && w.context.path === path) {
            window.jupyterapp.shell.activateById(w.id);
            window.jupyterapp.commands.execute('notebook:run-all-cells');
            return true;
        }
    }
    return false;
}"""
READY_JS = """(path) => {
    const app = window.jupyterapp;
    if (!app || !app.shell) return false;
    for (const w of Array.from(app.shell.widgets('main'))) {
        if (w.context && w.context.path === path && w.sessionContext && w.sessionContext.session) {
            const k = w.sessionContext.session.kernel;
            return !!k && k.status === 'idle' && w.content.widgets.length > 0;
        }
    }
    return false;
}"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder for the screenshots and the timings")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("ANIMELIB_PROFILE", None)  # as a user's shell: the notebook picks what `make figures` trained
    server = LabServer(root_dir=ROOT, log_path=out / "jupyterlab.log", env=env)
    server.start(timeout=90)
    timings = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{server.url}/lab/tree/{NOTEBOOK}", wait_until="domcontentloaded")
            page.wait_for_function(READY_JS, arg=NOTEBOOK, timeout=120_000, polling=250)
            start = time.monotonic()
            page.evaluate(RUN_ALL_JS, NOTEBOOK)
            page.wait_for_function(f"() => {{ const i = document.querySelector('{IMG}'); return !!i && i.complete "
                                   "&& i.naturalWidth > 0; }", timeout=600_000, polling=500)
            page.wait_for_function(READY_JS, arg=NOTEBOOK, timeout=120_000, polling=250)
            timings["run_all_s"] = round(time.monotonic() - start, 1)
            widget = page.locator(".widget-hbox", has=page.locator(IMG)).last
            widget.scroll_into_view_if_needed()
            widget.screenshot(path=str(out / "widget_before.png"))
            first = page.locator(".jp-OutputArea-output").first.inner_text()
            timings["first_line"] = first.splitlines()[0] if first else ""
            slider = page.locator(".widget-slider", has=page.get_by_text("PC 1", exact=True))
            handle, track = slider.locator(".noUi-handle").bounding_box(), slider.locator(".noUi-target").bounding_box()
            page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
            page.mouse.down()
            page.mouse.move(track["x"] + 0.85 * track["width"], handle["y"] + handle["height"] / 2, steps=8)
            page.mouse.up()
            page.wait_for_timeout(3000)
            widget.screenshot(path=str(out / "widget_after.png"))
            page.screenshot(path=str(out / "notebook.png"), full_page=False)
            browser.close()
    finally:
        server.stop()
    (out / "timings.json").write_text(json.dumps(timings, indent=2))
    print(json.dumps(timings, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
