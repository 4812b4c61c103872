"""The reproduction report: one self-contained ``index.html`` from a figures folder and the texts in ``report/``.

The page follows the report's sections. Each report figure shows our regenerated image with its caption,
the run it came from, what the report said at that place (``report/figures.md``) and, where a notebook
wrote one, a measured conclusion. Figures are embedded as base64 data URIs, so ``index.html`` can be
opened or mailed alone. Figures the structure expects but the manifest lacks are listed as missing;
figures the structure does not know are kept, in the section of their notebook or under "Other figures".

    from animelib.report import build_report
    build_report("figures", "runs/report")  # -> runs/report/index.html
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import mistune
import nbformat
from nbconvert import HTMLExporter

from animelib.formatting import format_value
from animelib.manifest import FIGURES, read_manifest
from animelib.paths import REPORT_TEXT_DIR

TITLE = "Generating Anime Avatars Using GANs: the reproduction"

# The report's structure: (number, title, figure ids in order). 4.3 and 5 are empty in the report.
SECTIONS: list[tuple[str, str, list[str]]] = [
    ("3.1", "Datasets", ["table1", "fig1a", "fig1b", "edge_promotion"]),
    ("3.2", "DCGAN: generating from noise", ["fig2a", "fig2b"]),
    ("3.3", "CycleGAN: translating photos", ["fig3"]),
    ("3.4", "CartoonGAN: translating photos", ["fig4"]),
    ("4.1", "Results: DCGAN", ["fig5", "fig6a", "fig6b", "fig6c"]),
    ("4.2", "Results: CycleGAN", ["fig7", "fig8a", "fig8b"]),
    ("4.3", "Results: CartoonGAN (empty in the report)", ["cartoongan_losses", "cartoongan_results", "ablation"]),
    ("5", "Conclusion (empty in the report)", ["table2"]),
]
OTHER = "other"
# Where a figure the structure does not list goes, by the notebook that drew it.
NOTEBOOK_SECTION = {"00_datasets": "3.1", "01_dcgan": "4.1", "02_cyclegan": "4.2", "03_cartoongan": "4.3",
                    "04_comparison": "5"}
RUN_KEYS = ("profile", "seed", "data", "epochs", "device", "commit")
MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
        ".svg": "image/svg+xml", ".webp": "image/webp"}


# --- inputs -------------------------------------------------------------------------------------------------------

def read_sections(path: Path) -> dict[str, str]:
    """A markdown file cut at its ``## key`` headings -> {key: text}; text before the first heading is ignored."""
    if not path.exists():
        return {}
    parts = re.split(r"^##[ \t]+(\S+)[ \t]*$", read_text(path), flags=re.MULTILINE)
    return {key: text.strip() for key, text in zip(parts[1::2], parts[2::2], strict=True)}


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip() if path.exists() else ""


def markdown(text: str) -> str:
    return mistune.html(text) if text else ""


def measured_markdown(text: str) -> str:
    """A notebook's measured conclusion: markdown, but each of its lines stays a line (hard breaks)."""
    return markdown("  \n".join(line.rstrip() for line in text.strip().splitlines()))


# --- pieces of the page -------------------------------------------------------------------------------------------

def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _inline_code(text: str) -> str:
    """Escape, then show `backticked` words as code (captions and notes are plain text with backticks)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", _esc(text))


def table_html(table: dict[str, Any]) -> str:
    columns, rows = table.get("columns") or [], table.get("rows") or []
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_esc(format_value(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def image_data_uri(path: Path) -> str:
    mime = MIME.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def run_html(run: dict[str, Any]) -> str:
    if not run:
        return '<p class="run">run: not recorded</p>'
    main = " · ".join(f"<b>{k}</b> {_esc(run[k])}" for k in RUN_KEYS if run.get(k) is not None)
    extra = " · ".join(f"{_esc(k)}: {_esc(v)}" for k, v in run.items() if k not in RUN_KEYS and v is not None)
    return f'<p class="run">run: {main}' + (f'<br><span class="extra">{extra}</span>' if extra else "") + "</p>"


def said_html(fig_id: str, said: dict[str, str]) -> str:
    text = said.get(fig_id)
    if not text:
        text = ("Not in the report: added by this reproduction." if fig_id not in FIGURES
                else "(no paraphrase written yet)")
    return f'<div class="said"><h4>What the report said</h4>{markdown(text)}</div>'


def figure_title(fig_id: str) -> str:
    return FIGURES[fig_id][1] if fig_id in FIGURES else f"{fig_id} (not in the report)"


def figure_html(fig_id: str, entry: dict[str, Any] | None, figures_dir: Path, said: dict[str, str],
                notebook_links: dict[str, str]) -> str:
    """One figure card: image, caption, optional table and measured text, run, what the report said."""
    title = f'<h3><a class="anchor" href="#fig-{_esc(fig_id)}">{_esc(figure_title(fig_id))}</a></h3>'
    notebook = (entry or {}).get("notebook") or FIGURES.get(fig_id, (None,))[0]
    if entry is None:
        body = (f'<p class="missing">missing: {_esc(fig_id)} (not generated yet — run <code>make figures</code>'
                + (f"; drawn by <code>{_esc(notebook)}</code>" if notebook else "") + ")</p>")
        return (f'<section class="figure missing-figure" id="fig-{_esc(fig_id)}">{title}{body}'
                f'{said_html(fig_id, said)}</section>')
    parts = [title]
    file = entry.get("file")
    path = figures_dir / file if file else None
    if path is not None and path.is_file():
        parts.append(f'<figure><img src="{image_data_uri(path)}" alt="{_esc(fig_id)}">'
                     f'<figcaption>{_inline_code(entry.get("caption") or "")}</figcaption></figure>')
    else:
        parts.append(f'<p class="missing">missing: {_esc(fig_id)} (file {_esc(file or "?")} not found in '
                     f'{_esc(figures_dir)} — run <code>make figures</code>)</p>')
        if entry.get("caption"):
            parts.append(f'<p class="caption">{_inline_code(entry["caption"])}</p>')
    if isinstance(entry.get("table"), dict):
        parts.append(table_html(entry["table"]))
    if entry.get("text"):
        parts.append(f'<div class="measured"><h4>Measured</h4>{measured_markdown(str(entry["text"]))}</div>')
    parts.append(run_html(entry.get("run") or {}))
    if notebook:
        link = notebook_links.get(Path(notebook).stem)
        nb = f'<a href="{_esc(link)}">{_esc(notebook)}</a>' if link else f"<code>{_esc(notebook)}</code>"
        parts.append(f'<p class="run">notebook: {nb}</p>')
    parts.append(said_html(fig_id, said))
    return f'<section class="figure" id="fig-{_esc(fig_id)}">{"".join(parts)}</section>'


def placement(entries: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """Section number (or ``OTHER``) -> figure ids: the report's order, then other figures by their notebook.

    Ids of ``FIGURES`` that ``SECTIONS`` does not list are placed too, so they are shown as missing when absent.
    """
    placed: dict[str, list[str]] = {number: list(ids) for number, _, ids in SECTIONS}
    placed[OTHER] = []
    known = {fig_id for ids in placed.values() for fig_id in ids}
    notebooks = {fig_id: notebook for fig_id, (notebook, _) in FIGURES.items()}
    notebooks.update({e["id"]: e.get("notebook") or notebooks.get(e["id"]) for e in entries})
    for fig_id, notebook in notebooks.items():
        if fig_id not in known:
            placed[NOTEBOOK_SECTION.get(Path(notebook or "").stem, OTHER)].append(fig_id)
            known.add(fig_id)
    return placed


def provenance_html(manifest: dict[str, Any], figures_dir: Path) -> str:
    runs = [e.get("run") or {} for e in manifest["figures"]]

    def values(key: str) -> str:
        found = sorted({str(r[key]) for r in runs if r.get(key) is not None})
        return ", ".join(found) if found else "not recorded"

    expected = [fig_id for _, _, ids in SECTIONS for fig_id in ids]
    present = {e["id"] for e in manifest["figures"] if e.get("file") and (figures_dir / e["file"]).is_file()}
    have = sum(fig_id in present for fig_id in expected)
    rows = [
        ("profile", manifest.get("profile") or values("profile")),
        ("profiles of the figures' runs", values("profile")),
        ("data", values("data")),
        ("devices", values("device")),
        ("commits", values("commit")),
        ("report figures present", f"{have} of {len(expected)}"
         + (f" (+ {len(present - set(expected))} of our own)" if present - set(expected) else "")),
        ("figures folder", str(figures_dir)),
        ("page built", dt.datetime.now().strftime("%Y-%m-%d %H:%M")),
    ]
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="provenance">{body}</table>'


def conclusions_html(manifest: dict[str, Any]) -> str:
    """Every measured conclusion the notebooks wrote (``text`` fields), linked to its figure."""
    items = [f'<li><a href="#fig-{_esc(e["id"])}">{_esc(figure_title(e["id"]))}</a>: '
             f'{_inline_code(str(e["text"]).strip()).replace(chr(10), "<br>")}</li>'
             for e in manifest["figures"] if e.get("text")]
    if not items:
        return ('<p class="missing">No measured conclusions yet: the notebooks write them when they run '
                "(run <code>make figures</code>).</p>")
    return '<h3>Measured conclusions</h3><ul class="conclusions">' + "".join(items) + "</ul>"


def render_notebooks(notebooks_dir: Path | None, out_dir: Path) -> dict[str, str]:
    """Executed notebooks rendered to HTML beside the page (``notebooks/<name>.html``): {stem: relative link}."""
    if notebooks_dir is None or not notebooks_dir.is_dir():
        return {}
    books = sorted(p for p in notebooks_dir.glob("*.ipynb") if not p.name.startswith("."))
    if not books:
        return {}
    exporter = HTMLExporter()
    target = out_dir / "notebooks"
    target.mkdir(parents=True, exist_ok=True)
    links = {}
    for book in books:
        try:
            body, _ = exporter.from_notebook_node(nbformat.read(book, as_version=4))
        except Exception:  # a notebook that cannot be rendered is left out, the page is still built
            continue
        (target / f"{book.stem}.html").write_text(body, encoding="utf-8")
        links[book.stem] = f"notebooks/{book.stem}.html"
    return links


CSS = """
:root { --ink: #1d2330; --muted: #5b6472; --line: #dde1e7; --accent: #3a5cc5; --warn: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #f6f7f9;
       font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 28px 64px; background: #fff; min-height: 100vh; }
h1 { font-size: 1.8rem; margin: 0.4em 0 0.2em; }
h2 { font-size: 1.4rem; margin-top: 2.2em; padding-bottom: 0.2em; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.1rem; margin: 0 0 0.6em; }
h4 { font-size: 0.8rem; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted); margin: 0 0 0.3em; }
a { color: var(--accent); }
a.anchor { color: inherit; text-decoration: none; }
code { font-size: 0.9em; background: #eef0f4; padding: 0.05em 0.3em; border-radius: 3px; }
.subtitle { color: var(--muted); margin-top: 0; }
nav.toc { columns: 2; font-size: 0.95rem; background: #f6f7f9; padding: 12px 20px; border-radius: 6px; }
nav.toc a { text-decoration: none; }
.figure { border: 1px solid var(--line); border-radius: 8px; padding: 16px 18px; margin: 20px 0; }
figure { margin: 0; text-align: center; }
figure img { max-width: 100%; height: auto; border: 1px solid #eceef2; }
figcaption, .caption { text-align: left; font-size: 0.92rem; color: var(--muted); margin-top: 0.5em; }
.run { font-size: 0.82rem; color: var(--muted); margin: 0.4em 0; }
.run .extra { opacity: 0.85; }
.said { background: #f7f5ee; border-left: 4px solid #c9b458; padding: 8px 14px; margin-top: 12px;
        font-size: 0.95rem; }
.said p, .measured p { margin: 0.3em 0; }
.measured { background: #eef5ef; border-left: 4px solid #4c9a5b; padding: 8px 14px; margin-top: 12px; }
.missing { color: var(--warn); font-weight: 600; }
.missing-figure { border-style: dashed; border-color: #e3b3ae; background: #fdf7f6; }
table { border-collapse: collapse; margin: 12px 0; font-size: 0.9rem; }
table.data th, table.data td { border: 1px solid var(--line); padding: 4px 10px; text-align: left; }
table.data th { background: #f0f2f5; }
table.data td { font-variant-numeric: tabular-nums; }
table.provenance th { text-align: left; padding: 2px 16px 2px 0; color: var(--muted); font-weight: 500; }
table.provenance td { padding: 2px 0; }
ul.conclusions li { margin: 0.3em 0; }
footer { margin-top: 48px; font-size: 0.8rem; color: var(--muted); }
"""


def _section_id(number: str) -> str:
    return f"s{number.replace('.', '-')}" if number != OTHER else "other"


def build_html(manifest: dict[str, Any], figures_dir: Path, text_dir: Path = REPORT_TEXT_DIR,
               notebook_links: dict[str, str] | None = None) -> str:
    notebook_links = notebook_links or {}
    entries = {e["id"]: e for e in manifest["figures"] if isinstance(e, dict) and "id" in e}
    said = read_sections(text_dir / "figures.md")
    section_text = read_sections(text_dir / "sections.md")
    placed = placement(entries.values())
    titles = {number: title for number, title, _ in SECTIONS}
    order = [number for number, _, _ in SECTIONS] + ([OTHER] if placed[OTHER] else [])
    toc = "".join(f'<li><a href="#{_section_id(n)}">{_esc(n + " " if n != OTHER else "")}'
                  f'{_esc(titles.get(n, "Other figures"))}</a></li>' for n in order)
    if notebook_links:
        toc += '<li><a href="#notebooks">Executed notebooks</a></li>'
    out = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(TITLE)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>{_esc(TITLE)}</h1>",
        '<p class="subtitle">Every figure of the course report, regenerated by <code>animelib</code>, '
        "beside what the report said</p>",
        markdown(read_text(text_dir / "intro.md")),
        provenance_html(manifest, figures_dir),
        f'<nav class="toc"><ul>{toc}</ul></nav>',
    ]
    for number in order:
        title = titles.get(number, "Other figures")
        heading = f"{number} {title}" if number != OTHER else title
        out.append(f'<h2 id="{_section_id(number)}">{_esc(heading)}</h2>')
        if number == OTHER:
            out.append("<p>Figures in the manifest that belong to none of the report's sections.</p>")
        out.append(markdown(section_text.get(number, "")))
        for fig_id in placed[number]:
            out.append(figure_html(fig_id, entries.get(fig_id), figures_dir, said, notebook_links))
        if number == "5":  # the conclusion the report left empty: our text, then every measured conclusion
            out.append(markdown(read_text(text_dir / "conclusion.md")))
            out.append(conclusions_html(manifest))
    if notebook_links:
        items = "".join(f'<li><a href="{_esc(link)}">{_esc(stem)}.ipynb</a></li>'
                        for stem, link in sorted(notebook_links.items()))
        out.append(f'<h2 id="notebooks">Executed notebooks</h2><ul>{items}</ul>')
    out.append("<footer>Built by <code>python -m animelib report</code>. Figures are embedded in this file; "
               "the report's text is paraphrased, never quoted.</footer></main></body></html>")
    return "\n".join(out)


def build_report(figures_dir: str | Path, out_dir: str | Path, notebooks_dir: str | Path | None = None,
                 text_dir: str | Path = REPORT_TEXT_DIR) -> Path:
    """Write ``out_dir/index.html`` (images embedded) from ``figures_dir/manifest.json``; returns its path.

    Executed notebooks in ``notebooks_dir`` (default ``out_dir/../notebooks``, where ``animelib run`` puts
    them) are rendered to ``out_dir/notebooks/*.html`` and linked; the page itself needs nothing beside it.
    """
    figures_dir, out_dir = Path(figures_dir), Path(out_dir)
    manifest = read_manifest(figures_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    notebooks_dir = Path(notebooks_dir) if notebooks_dir is not None else out_dir.resolve().parent / "notebooks"
    links = render_notebooks(notebooks_dir, out_dir)
    index = out_dir / "index.html"
    tmp = index.with_suffix(".html.tmp")
    tmp.write_text(build_html(manifest, figures_dir, Path(text_dir), links), encoding="utf-8")
    tmp.replace(index)
    return index
