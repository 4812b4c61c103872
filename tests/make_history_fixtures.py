"""Train the smoke profile's uninterrupted runs (seed 0, as the notebooks train them: CycleGAN interrupted after
epoch 1 and resumed) and write their histories.

    python tests/make_history_fixtures.py              # the stored copies, after a deliberate change of a recipe
    python tests/make_history_fixtures.py --out DIR    # a reference for this machine (the pipeline tests do this)

Floating-point results depend on the CPU's vector unit and the thread count, so the pipeline tests compare a
killed-and-resumed run with a reference trained here, on the same machine; the stored copies (with the machine
that wrote them) check that a refactoring changes no result, on a machine of the same kind.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

STORED = Path(__file__).parent / "fixtures" / "histories"


def machine() -> dict:
    """What the floating-point results depend on, beyond the code."""
    import torch

    return {"torch": torch.__version__, "cpu": torch.backends.cpu.get_cpu_capability(),
            "vendor": cpu_vendor(), "threads": torch.get_num_threads()}


def cpu_vendor() -> str:
    """The CPU's maker (AuthenticAMD, GenuineIntel): the same vector unit rounds differently on each."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_histories(out: Path) -> None:
    from animelib.models import MODELS, train
    from animelib.runs import read_history

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for entry in MODELS.values():
            cfg = entry.config_class.from_profile("smoke")
            run_dir = Path(tmp) / cfg.run_name
            train(cfg, run_dir, progress=False, interrupt_at=entry.interrupt_at.get("smoke", ()))  # as its notebook
            rows = [{k: v for k, v in r.items() if k != "seconds"} for r in read_history(run_dir)]
            (out / f"{cfg.run_name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
            print(f"wrote {out / f'{cfg.run_name}.jsonl'} ({len(rows)} records)")
    (out / "machine.json").write_text(json.dumps(machine(), indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=STORED, help="folder for the histories (default: stored copies)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("ANIMELIB_CACHE", str(Path(tmp) / "cache"))
        os.environ["ANIMELIB_OFFLINE"] = "1"
        write_histories(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
