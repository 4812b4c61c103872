"""The summary of benchmarks/gpu_check.sh: each part's outcome and its targets, from the files in OUT.

    python benchmarks/gpu_summary.py OUT "CARD"       # writes OUT/summary.md and prints it

Reads what the parts wrote into OUT (parts.tsv, pytest.txt, matrix.jsonl, matrix.md, epoch.json, resume.json);
a missing file is reported as "no result". Targets: 30,000 images/s for the full DCGAN at batch 128 with amp and
channels-last, and the report's 100 epochs of 115,087 images in 10 minutes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

TARGET_IMAGES_PER_SECOND, TARGET_MINUTES = 30_000, 10.0


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def part_lines(out: Path) -> list[str]:
    """One line per part from parts.tsv (name, exit code, seconds), which gpu_check.sh appends to."""
    lines = []
    for row in (out / "parts.tsv").read_text().splitlines() if (out / "parts.tsv").exists() else []:
        name, code, seconds = row.split("\t")
        verdict = {"0": "ok", "124": "stopped at its time limit"}.get(code, f"failed (exit code {code})")
        lines.append(f"- {name}: {verdict}, {seconds} s")
    return lines


def pytest_line(out: Path) -> str:
    text = (out / "pytest.txt").read_text() if (out / "pytest.txt").exists() else ""
    found = [line.strip("= ") for line in text.splitlines()
             if re.search(r"\b(passed|failed|skipped|errors?|no tests ran)\b.* in [0-9.]+s", line)]
    return f"- CUDA tests: {found[-1] if found else 'no result line'}"


def matrix_lines(out: Path) -> list[str]:
    """The targeted row (DCGAN batch 128 amp+cl) against its target, and each model's largest batch that fits."""
    rows = [json.loads(line) for line in (out / "matrix.jsonl").read_text().splitlines()
            if line.strip()] if (out / "matrix.jsonl").exists() else []
    lines = []
    for r in rows:
        if r.get("model") == "dcgan" and r.get("batch_size") == 128 and r.get("option") == "amp+cl" \
                and "images_per_second" in r:
            met = "met" if r["images_per_second"] >= TARGET_IMAGES_PER_SECOND else "NOT met"
            lines.append(f"- DCGAN full, batch 128, amp+cl: {r['images_per_second']:,.0f} images/s in the training "
                         f"step (target {TARGET_IMAGES_PER_SECOND:,}: {met})")
    for model in ("cyclegan", "cartoongan"):
        fits = [r["batch_size"] for r in rows if r.get("model") == model and "images_per_second" in r]
        oom = sorted(r["batch_size"] for r in rows if r.get("model") == model and r.get("error"))
        if fits or oom:
            lines.append(f"- {model}: largest batch timed {max(fits) if fits else '-'}"
                         + (f"; out of memory at {', '.join(map(str, oom))}" if oom else ""))
    return lines


def epoch_lines(out: Path) -> list[str]:
    e = read_json(out / "epoch.json")
    if e is None:
        return ["- full DCGAN epoch: no result"]
    met = "met" if e["report_minutes"] <= TARGET_MINUTES else "NOT met"
    rendered = f" (rendered on {e['render_workers']} cores at {e['render_images_per_second']:,.0f} images/s)" \
        if e["render_images_per_second"] else ""
    return [f"- full DCGAN epoch on {e['images']:,} avatars{rendered}: epochs of {e['epoch_seconds']} s, "
            f"{e['images_per_second']:,.0f} images/s warm, peak {e['peak_memory_mib'] or 'n/a'} MiB; the report's "
            f"100 epochs of 115,087 images: {e['report_minutes']} min (target {TARGET_MINUTES:g} min: {met}; "
            f"{e['note']})"]


def resume_lines(out: Path) -> list[str]:
    r = read_json(out / "resume.json")
    if r is None:
        return ["- resume: no result"]
    gpu = r.get("resumed", {})
    return [f"- resume on {r['device']}: {'OK' if r['ok'] else 'FAILED'}; resumed vs uninterrupted: largest relative "
            f"loss difference {gpu.get('max_relative_loss_difference')}, weights "
            f"{gpu.get('max_relative_weight_difference')} (tolerance rtol {r['rtol']}, atol {r['atol']}); resumed "
            f"on the CPU: {r.get('resumed on cpu')}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default="gpu-check", metavar="OUT",
                        help="the folder the GPU check's parts wrote into (default gpu-check)")
    parser.add_argument("card", nargs="?", default="?", metavar="CARD",
                        help="the device's name, for the summary's title")
    args = parser.parse_args(argv)
    out, card = Path(args.out), args.card
    lines = [f"# GPU check: {card}", "", *part_lines(out), "", pytest_line(out), *matrix_lines(out),
             *epoch_lines(out), *resume_lines(out)]
    if (out / "matrix.md").exists():
        lines += ["", "## Matrix", "", (out / "matrix.md").read_text()]
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
