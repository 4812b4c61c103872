"""The reproduction report builder: every figure shown, missing ones listed, unknown ones kept, one file."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from PIL import Image

from animelib.cli import main
from animelib.errors import AnimelibError
from animelib.manifest import FIGURES, register
from animelib.paths import REPO_ROOT, REPORT_TEXT_DIR
from animelib.report import SECTIONS, build_report, read_sections

RUN = {"model": "dcgan", "profile": "smoke", "seed": 3, "data": "synthetic avatars", "epochs": 2,
       "device": "cpu", "commit": "abc123def456"}


def png(path: Path, colour: tuple[int, int, int]) -> bytes:
    Image.new("RGB", (8, 6), colour).save(path)
    return path.read_bytes()


@pytest.fixture
def figures(tmp_path) -> dict[str, bytes]:
    """A small figures folder: some report figures, two of our own, one unknown, one whose file is gone."""
    fig_dir = tmp_path / "figures"
    fig_dir.mkdir()
    made = {}
    for i, fig_id in enumerate(["table1", "fig1a", "fig5", "fig6a", "synthetic_pairs", "cyclegan_metrics",
                                "mystery"]):
        made[fig_id] = png(fig_dir / f"{fig_id}.png", (30 * i, 100, 200 - 20 * i))
    notebooks = {"synthetic_pairs": "00_datasets.ipynb", "cyclegan_metrics": "02_cyclegan.ipynb", "mystery": None}
    for fig_id in made:
        extra = {}
        if fig_id == "table1":
            extra["table"] = {"columns": ["name", "samples (report)", "share"],
                              "rows": [["Anime", 115087, 0.5], ["Thumbs", 3666, None]]}
        if fig_id == "fig5":
            extra["text"] = "The discriminator wins after epoch 1 (`smoke` run).\nSecond line: G loss rises."
        register(fig_dir, fig_id, f"{fig_id}.png", f"Caption of {fig_id} <here>", notebook=notebooks.get(fig_id),
                 run=RUN, **extra)
    register(fig_dir, "fig7", "fig7.png", "Caption of fig7", run=RUN)  # listed, but the file is not there
    return made


def build(tmp_path, **kwargs) -> str:
    index = build_report(tmp_path / "figures", tmp_path / "out" / "report", **kwargs)
    assert index == tmp_path / "out" / "report" / "index.html"
    return index.read_text()


def section(html: str, number: str) -> str:
    """The HTML from section ``number``'s heading to the next section heading."""
    start = html.index(f'<h2 id="s{number.replace(".", "-")}"')
    end = html.find("<h2 ", start + 1)
    return html[start:end if end > 0 else None]


def test_every_figure_appears_embedded_with_caption_and_run(tmp_path, figures):
    html = build(tmp_path)
    for fig_id, data in figures.items():
        assert f'id="fig-{fig_id}"' in html
        assert base64.b64encode(data).decode() in html, f"{fig_id} not embedded"
        assert f"Caption of {fig_id} &lt;here&gt;" in html  # captions are escaped
    assert "abc123def456" in html and "synthetic avatars" in html and "<b>seed</b> 3" in html
    assert html.count("abc123def456") >= len(figures)


def test_missing_figures_are_listed_not_dropped(tmp_path, figures):
    html = build(tmp_path)
    assert "missing: fig6b (not generated yet — run <code>make figures</code>" in html
    assert "missing: table2 (not generated yet" in html
    assert "missing: fig7 (file fig7.png not found" in html
    expected = [fig_id for _, _, ids in SECTIONS for fig_id in ids]
    for fig_id in expected:
        assert f'id="fig-{fig_id}"' in html
    assert html.count('class="missing">missing: ') == len(expected) - 4  # table1, fig1a, fig5, fig6a are there


def test_a_figure_added_to_the_manifest_list_later_is_expected_too(tmp_path, figures, monkeypatch):
    import animelib.report as report

    monkeypatch.setitem(report.FIGURES, "fig9", ("02_cyclegan.ipynb", "Figure 9: a new one"))
    html = build(tmp_path)
    assert "missing: fig9 (not generated yet" in section(html, "4.2") and "Figure 9: a new one" in html


def test_figures_the_structure_does_not_know_are_kept_in_a_fitting_section(tmp_path, figures):
    html = build(tmp_path)
    assert 'id="fig-synthetic_pairs"' in section(html, "3.1")
    assert 'id="fig-cyclegan_metrics"' in section(html, "4.2")
    other = html[html.index('<h2 id="other"'):]
    assert 'id="fig-mystery"' in other and "Not in the report" in other


def test_report_paraphrase_table_and_measured_text_are_shown(tmp_path, figures):
    html = build(tmp_path)
    said = read_sections(REPORT_TEXT_DIR / "figures.md")
    fig5 = html[html.index('id="fig-fig5"'):html.index('id="fig-fig6a"')]
    assert "What the report said" in fig5 and said["fig5"].split()[3] in fig5
    assert "The discriminator wins after epoch 1 (<code>smoke</code> run).<br" in fig5  # lines kept
    assert "Second line: G loss rises." in fig5
    table1 = html[html.index('id="fig-table1"'):html.index('id="fig-fig1a"')]
    assert "<th>samples (report)</th>" in table1 and "<td>115,087</td>" in table1 and "<td>n/a</td>" in table1
    assert "empty in the report" in section(html, "4.3") and "empty in the report" in section(html, "5")
    assert "Measured conclusions" in section(html, "5") and 'href="#fig-fig5"' in section(html, "5")


def test_the_page_is_self_contained(tmp_path, figures):
    html = build(tmp_path)
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == len(figures)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r'<link[^>]+stylesheet|<script[^>]+src=', html)
    assert [p.name for p in (tmp_path / "out" / "report").iterdir()] == ["index.html"]


def test_executed_notebooks_are_rendered_and_linked(tmp_path, figures):
    import nbformat

    nb_dir = tmp_path / "out" / "notebooks"
    nb_dir.mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# DCGAN, executed")])
    nbformat.write(nb, nb_dir / "01_dcgan.ipynb")
    html = build(tmp_path)
    assert (tmp_path / "out" / "report" / "notebooks" / "01_dcgan.html").exists()
    assert 'href="notebooks/01_dcgan.html"' in html


def test_missing_folder_or_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(AnimelibError, match="does not exist"):
        build_report(tmp_path / "nowhere", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnimelibError, match=r"manifest\.json is missing"):
        build_report(tmp_path / "empty", tmp_path / "out")
    (tmp_path / "empty" / "manifest.json").write_text("{not json")
    with pytest.raises(AnimelibError, match="JSON"):
        build_report(tmp_path / "empty", tmp_path / "out")


def test_cli_report(tmp_path, figures, capsys):
    out = tmp_path / "cli-out"
    assert main(["report", "--figures-dir", str(tmp_path / "figures"), "--out", str(out)]) == 0
    assert (out / "index.html").exists() and str(out / "index.html") in capsys.readouterr().out
    assert main(["report", "--figures-dir", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_texts_cover_every_figure_and_section():
    said = read_sections(REPORT_TEXT_DIR / "figures.md")
    assert set(FIGURES) <= set(said), f"no paraphrase for {sorted(set(FIGURES) - set(said))}"
    assert all(len(text.split()) >= 8 for text in said.values())
    sections = read_sections(REPORT_TEXT_DIR / "sections.md")
    assert {number for number, _, _ in SECTIONS} <= set(sections)
    assert (REPORT_TEXT_DIR / "intro.md").read_text().strip()
    assert (REPORT_TEXT_DIR / "conclusion.md").read_text().strip()


def test_texts_do_not_copy_the_report():
    """No run of 8 words from the report appears in our texts (facts yes, sentences no)."""
    report = REPO_ROOT.parent / "shared" / "reference" / "report.md"
    if not report.exists():
        pytest.skip("the reference report is not beside the repository")

    def shingles(text: str, n: int = 8) -> set[tuple[str, ...]]:
        words = re.findall(r"[a-z0-9]+", text.lower())
        return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}

    theirs = shingles(report.read_text())
    for path in sorted(REPORT_TEXT_DIR.glob("*.md")):
        copied = shingles(path.read_text()) & theirs
        assert not copied, f"{path.name} repeats the report: {' '.join(sorted(copied)[0])}"
