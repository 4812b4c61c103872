"""`animelib run` shows what the notebooks print while they run; the executed notebooks keep their output."""

from __future__ import annotations

import nbformat

from animelib.nbstream import _BarEcho
from animelib.notebooks import run_notebooks


def _book(folder, *cells: str):
    book = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('PROFILE = "smoke"', metadata={"tags": ["parameters"]}),
        *(nbformat.v4.new_code_cell(c) for c in cells),
    ])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir()
    nbformat.write(book, folder / "70_talks.ipynb")


def test_what_a_notebook_prints_reaches_the_terminal(tmp_path, capfd):
    _book(tmp_path / "nb",
          'print("hello from the kernel")',
          "import warnings\nwarnings.warn('careful: a warning from the kernel')",
          "from tqdm.auto import tqdm\nfor _ in tqdm(range(5), desc='epochs', unit='epoch'):\n    pass")
    lines = []
    out = run_notebooks("smoke", figures_dir=tmp_path / "f", runs_dir=tmp_path / "r", folder=tmp_path / "nb",
                        progress=False, log=lines.append)
    terminal = capfd.readouterr()
    assert "hello from the kernel\n" in terminal.out
    assert "careful: a warning from the kernel" in terminal.err
    assert "epochs: 100%" in terminal.out and "5/5" in terminal.out  # the progress bar's last state, as text
    # The executed notebook is unchanged by the echo: its outputs are where papermill puts them.
    cells = nbformat.read(out[0], as_version=4).cells
    assert cells[2].outputs[0]["text"] == "hello from the kernel\n"
    assert any("careful" in o.get("text", "") for o in cells[3].outputs)
    quiet = run_notebooks("smoke", figures_dir=tmp_path / "f", runs_dir=tmp_path / "r2", folder=tmp_path / "nb",
                          progress=False, log=lines.append, stream=False)
    assert "hello from the kernel" not in capfd.readouterr().out
    assert nbformat.read(quiet[0], as_version=4).cells[2].outputs == cells[2].outputs


def test_a_progress_bar_is_one_line_every_few_seconds_and_at_the_end(capsys):
    echo = _BarEcho(every_s=3600)
    state = {"bar": {"_model_name": "HBoxModel", "children": ["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]},
             "l": {"value": "decoding\u2007anime:\u2007\u20070%"}, "p": {"value": 0, "max": 4},
             "r": {"value": "\u20070/4\u2007[00:00&lt;?,\u2007?file/s]"}}
    echo.update("bar", state)
    for n in (1, 2, 3, 4):
        state["p"]["value"] = n
        state["l"]["value"] = f"decoding\u2007anime:\u2007{25 * n}%"
        state["r"]["value"] = f"\u2007{n}/4\u2007[00:0{n}&lt;00:00,\u20071.00file/s]"
        echo.update("p", state)
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["  decoding anime: 0% 0/4 [00:00<?, ?file/s]",
                     "  decoding anime: 100% 4/4 [00:04<00:00, 1.00file/s]"]
