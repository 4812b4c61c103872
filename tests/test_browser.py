"""A real browser on the DCGAN notebook: JupyterLab runs every cell, then a latent slider redraws the avatar.

Headless Debian Chromium driven by Playwright (sync API) against a throwaway JupyterLab server whose root is a
copy of ``notebooks/`` in ``tmp_path`` (so the smoke run lands in ``tmp_path/runs/smoke``). Screenshots go to
``test-artifacts/browser/``. Skipped when Chromium or Playwright is missing.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from browser_util import CHROMIUM_ARGS, LabServer, find_chromium

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "browser"
NOTEBOOK = "notebooks/01_dcgan.ipynb"

# Budgets (seconds) on a 2-core CPU; the whole test takes about a minute there.
SERVER_START_S = 60
PAGE_READY_S = 60
RUN_ALL_S = 150
REDRAW_S = 30

IMG = "img.widget-image"
# The kernel status and the notebook panel, reached through window.jupyterapp (--LabApp.expose_app_in_browser).
PANEL_JS = """(path) => {
    const app = window.jupyterapp;
    if (!app || !app.shell) return null;
    for (const w of Array.from(app.shell.widgets('main'))) {
        if (w.context && w.context.path === path) return w;
    }
    return null;
}"""
KERNEL_IDLE_JS = f"""(path) => {{
    const w = ({PANEL_JS})(path);
    if (!w || !w.context.isReady || !w.sessionContext || !w.sessionContext.session) return false;
    const k = w.sessionContext.session.kernel;
    return !!k && k.status === 'idle' && w.content.widgets.length > 0;
}}"""
# Fire and forget: awaiting the command's promise from page.evaluate hangs until every cell has run.
RUN_ALL_JS = f"""(path) => {{
    const w = ({PANEL_JS})(path);
    window.jupyterapp.shell.activateById(w.id);
    window.jupyterapp.commands.execute('notebook:run-all-cells');
    return true;
}}"""
IMG_BYTES_JS = """async (img) => {
    const r = await fetch(img.src);
    const b = new Uint8Array(await r.arrayBuffer());
    let s = '';
    for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
    return btoa(s);
}"""
# Runs code in the notebook's kernel (beside the notebook, not in a cell) and returns its text output.
KERNEL_EVAL_JS = f"""async ([path, code]) => {{
    const w = ({PANEL_JS})(path);
    const future = w.sessionContext.session.kernel.requestExecute({{code, silent: false, store_history: false}});
    let out = '';
    future.onIOPub = (msg) => {{
        const t = msg.header.msg_type, c = msg.content;
        if (t === 'execute_result' || t === 'display_data') out += (c.data['text/plain'] || '');
        else if (t === 'stream') out += c.text;
        else if (t === 'error') out += `${{c.ename}}: ${{c.evalue}}`;
    }};
    await future.done;
    return out;
}}"""
RENDERS = "explorer.explorer.renders"
# True when the generator draws the same PNG for PC 1 = 0 as for the slider's current values.
SAME_IMAGE = ("__import__('animelib.widgets').widgets.render_latent(explorer.explorer.G, 0, [0.0] * 5, "
              "explorer.explorer.directions) == explorer.explorer.controls['image'].value")
INTENDED_LABELS = ("seed", "PC 1", "PC 2", "PC 3", "PC 4", "PC 5", "towards seed", "interpolate")
LABELS_JS = """(root) => Array.from(root.querySelectorAll('.widget-label'))
    .filter(e => e.offsetParent !== null && e.textContent.trim())
    .map(e => ({text: e.textContent.trim(), scroll: e.scrollWidth, client: e.clientWidth}))"""
_PROGRESS: dict[str, float] = {}  # step -> seconds since the test started, shown in failure messages
ERROR_MARKERS = re.compile(r"Traceback|Error|Exception")
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
HAS_TRACEBACK_JS = f"""() => Array.from(document.querySelectorAll('{STDERR}'))
    .some(e => /Traceback|Error:/.test(e.textContent))"""


@pytest.fixture
def chromium_path() -> str:
    pytest.importorskip("playwright.sync_api", reason="the Playwright Python package is not installed")
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium: install it with `apt-get install -y chromium` (Playwright's own download is not "
                    "used)")
    return path


@pytest.fixture
def lab(tmp_path, chromium_path):
    """JupyterLab on a copy of notebooks/ in tmp_path; stopped (kernels included) whatever happens."""
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    jupyter = tmp_path / "jupyter"
    env = dict(os.environ)
    env.update(
        ANIMELIB_CACHE=str(tmp_path / "cache"),
        ANIMELIB_OFFLINE="1", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
        JUPYTER_CONFIG_DIR=str(jupyter / "config"),  # no user config, settings or workspace can leak in
        JUPYTER_DATA_DIR=str(jupyter / "data"),  # the notebook-signing key; kernels come from the venv
        JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(jupyter / "user-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(jupyter / "workspaces"),
        PYTHONUNBUFFERED="1",
        MPLBACKEND="module://matplotlib_inline.backend_inline",
    )
    # No "official Jupyter news?" toast over the notebook, no update check: nothing is fetched.
    notification = jupyter / "user-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    server = LabServer(root_dir=tmp_path, log_path=tmp_path / "jupyterlab.log", env=env)
    try:
        server.start(timeout=SERVER_START_S)
        yield server
    finally:
        server.stop()


def _notebook_errors(page) -> list[str]:
    """Error outputs and widget failures shown in the notebook (stderr with tqdm bars alone is fine)."""
    texts = page.locator(STDERR).all_inner_texts()
    errors = [t for t in texts if ERROR_MARKERS.search(t)]
    body = page.locator(".jp-Notebook").inner_text() if page.locator(".jp-Notebook").count() else ""
    for marker in ("Error displaying widget", "Error rendering widget", "Failed to display widget",
                   "Loading widget..."):
        if marker in body:
            errors.append(f"the notebook shows {marker!r}")
    return errors


def _fail(page, lab, name: str, what: str) -> None:
    """Screenshot, then fail with what the notebook shows (errors, last outputs) and the server log."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"dcgan_widget_{name}.png"
    try:
        page.screenshot(path=str(shot), full_page=True)
    except Exception as e:  # noqa: BLE001 (the failure message matters more than the screenshot)
        shot = f"(no screenshot: {e})"
    try:
        errors = _notebook_errors(page)
        outputs = page.locator(".jp-OutputArea-output").all_inner_texts()[-3:]
    except Exception as e:  # noqa: BLE001
        errors, outputs = [f"(page unreadable: {e})"], []
    steps = "; ".join(f"{k} at {v:.1f} s" for k, v in _PROGRESS.items() if k != "start") or "none"
    elapsed = time.monotonic() - _PROGRESS.get("start", time.monotonic())
    pytest.fail(f"{what}\nafter {elapsed:.1f} s (steps done: {steps})\nscreenshot: {shot}\n"
                f"notebook errors: {errors or 'none'}\n"
                f"last outputs: {[o[-800:] for o in outputs]}\nJupyterLab log (tail):\n{lab.log_tail(25)}",
                pytrace=False)


def _wait(page, lab, name: str, what: str, js: str, arg, timeout_s: float) -> None:
    from playwright.sync_api import Error as PlaywrightError

    try:
        page.wait_for_function(js, arg=arg, timeout=timeout_s * 1000, polling=250)
        return
    except PlaywrightError:  # TimeoutError is a subclass
        pass
    _fail(page, lab, name, f"{what} (waited {timeout_s:.0f} s)")  # outside the except: no chained traceback


def _kernel_eval(page, code: str) -> str:
    return page.evaluate(KERNEL_EVAL_JS, [NOTEBOOK, code]).strip()


def _renders(page) -> int:
    out = _kernel_eval(page, RENDERS)
    if not out.isdigit():
        pytest.fail(f"cannot read the explorer's redraw counter ({RENDERS}): {out}", pytrace=False)
    return int(out)


def _image_bytes(img) -> bytes:
    return base64.b64decode(img.evaluate(IMG_BYTES_JS))


def test_dcgan_latent_slider_redraws_in_jupyterlab(lab):
    from playwright import sync_api

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("dcgan_widget_*.png"):
        old.unlink()
    timings = _PROGRESS
    timings.clear()
    t0 = timings["start"] = time.monotonic()

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            console_errors: list[str] = []
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            page.set_default_timeout(30_000)

            page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}", wait_until="domcontentloaded")
            _wait(page, lab, "timeout", "JupyterLab did not open the notebook with an idle kernel",
                  KERNEL_IDLE_JS, NOTEBOOK, PAGE_READY_S)
            timings["notebook ready"] = time.monotonic() - t0

            page.evaluate(RUN_ALL_JS, NOTEBOOK)
            img = page.locator(IMG)
            # Until the image is drawn, or a cell fails (then fail at once, not after the whole budget).
            _wait(page, lab, "timeout", "the latent explorer's image did not appear after 'Run All Cells'",
                  f"() => {{ const i = document.querySelector('{IMG}');"
                  " if (!!i && /^(blob|data):/.test(i.src) && i.complete && i.naturalWidth > 0) return true;"
                  f" return ({HAS_TRACEBACK_JS})(); }}",
                  None, RUN_ALL_S)
            errors = _notebook_errors(page)
            if errors:
                _fail(page, lab, "errors", f"a cell failed during 'Run All Cells': {errors}")
            _wait(page, lab, "timeout", "the kernel did not become idle after the last cell",
                  KERNEL_IDLE_JS, NOTEBOOK, 30)
            timings["all cells run"] = time.monotonic() - t0
            assert img.count() == 1, f"expected one widget image, found {img.count()}"
            errors = _notebook_errors(page)
            if errors:
                _fail(page, lab, "errors", f"the notebook shows errors after running all cells: {errors}")

            widget = page.locator(".widget-hbox", has=img).last
            widget.scroll_into_view_if_needed()
            # every label shown in full (ipywidgets cuts a label that does not fit with an ellipsis), a status line
            labels = widget.evaluate(LABELS_JS)
            shown = {label["text"] for label in labels}
            assert set(INTENDED_LABELS) <= shown, f"labels {sorted(shown)}, expected {INTENDED_LABELS}"
            cut = [label["text"] for label in labels if label["scroll"] > label["client"] + 1]
            assert not cut, f"labels cut at the default width: {cut} ({labels})"
            status = widget.locator(".widget-html").first.inner_text()
            assert status.startswith("seed 0") and "generator of dcgan-smoke-s0" in status, status
            before_src = img.get_attribute("src")
            before_png = _image_bytes(img)
            assert before_png.startswith(b"\x89PNG"), "the widget image is not a PNG"
            widget.screenshot(path=str(ARTIFACTS / "dcgan_widget_before.png"))

            renders_before = _renders(page)

            # "PC 1": drag the noUiSlider handle with the mouse towards the right end of its track.
            slider = page.locator(".widget-slider", has=page.get_by_text(re.compile(r"^PC 1$"), exact=True))
            assert slider.count() == 1, f"expected one 'PC 1' slider, found {slider.count()}"
            readout = slider.locator(".widget-readout")
            assert readout.inner_text().strip() in ("0.00", "0.0", "0"), readout.inner_text()
            handle, track = slider.locator(".noUi-handle"), slider.locator(".noUi-target")
            hb, tb = handle.bounding_box(), track.bounding_box()
            assert hb and tb, "the 'PC 1' slider is not visible"
            y = hb["y"] + hb["height"] / 2
            page.mouse.move(hb["x"] + hb["width"] / 2, y)
            page.mouse.down()
            page.mouse.move(tb["x"] + 0.85 * tb["width"], y, steps=8)
            page.mouse.up()
            value = float(readout.inner_text())
            if value <= 1.0:
                _fail(page, lab, "timeout", f"the 'PC 1' readout is {value} after dragging its handle to the right")

            # The new value reaches the kernel, which redraws (the LatentExplorer counts its redraws) ...
            deadline = time.monotonic() + REDRAW_S
            while (renders_after := _renders(page)) <= renders_before and time.monotonic() < deadline:
                page.wait_for_timeout(250)
            if renders_after <= renders_before:
                _fail(page, lab, "timeout", f"moving slider 'PC 1' to {value} did not reach the kernel: "
                      f"{RENDERS} stayed {renders_before} for {REDRAW_S} s")
            _wait(page, lab, "timeout", "the kernel did not become idle after the redraws",
                  KERNEL_IDLE_JS, NOTEBOOK, REDRAW_S)
            # ... and the new PNG reaches the browser (an identical PNG is not sent again: the src stays).
            try:
                page.wait_for_function(
                    f"(src) => {{ const i = document.querySelector('{IMG}');"
                    " return !!i && i.src !== src && i.complete && i.naturalWidth > 0; }",
                    arg=before_src, timeout=10_000, polling=250)
                redrawn = True
            except sync_api.Error:
                redrawn = False
            if not redrawn:
                same = _kernel_eval(page, SAME_IMAGE)
                why = ("the generator draws the very same PNG for PC 1 = 0 and PC 1 = {v} (render_latent(...) == "
                       "image.value is {same}): its image does not depend on z" if same == "True" else
                       "render_latent gives another PNG ({same}) but it did not reach the page").format(v=value,
                                                                                                   same=same)
                _fail(page, lab, "timeout", f"moving slider 'PC 1' to {value} made the kernel redraw "
                      f"({RENDERS}: {renders_before} -> {renders_after}) but the image did not change: {why}")
            page.wait_for_timeout(300)  # the last redraw's bytes reach the view
            timings["slider moved, image redrawn"] = time.monotonic() - t0
            after_png = _image_bytes(img)
            assert after_png.startswith(b"\x89PNG"), "the redrawn widget image is not a PNG"
            assert after_png != before_png, "the image's src changed but its pixels did not"
            widget.screenshot(path=str(ARTIFACTS / "dcgan_widget_after.png"))
            page.screenshot(path=str(ARTIFACTS / "dcgan_notebook.png"))

            errors = _notebook_errors(page)
            if errors:
                _fail(page, lab, "errors", f"the notebook shows errors after moving the slider: {errors}")
            assert not [e for e in console_errors if "widget" in e.lower()], console_errors
        finally:
            browser.close()
    print("\n" + "; ".join(f"{k}: {v:.1f} s" for k, v in timings.items() if k != "start")
          + f"; PC 1 = {value}; redraws {renders_before} -> {renders_after}")
