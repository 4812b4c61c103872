"""Write the stored smoke histories that tests/test_notebooks.py compares each notebook run against.

Run after a deliberate change of what training computes (a recipe, a default), never to make a refactoring pass:
    python tests/make_history_fixtures.py
The runs are the smoke profile's, seed 0, as the notebooks train them (CycleGAN interrupted after epoch 1).
"""

import json
import os
import sys
import tempfile
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "histories"
INTERRUPT_AT = {"cyclegan": (1,)}  # as notebook 02 trains its smoke run


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(ANIMELIB_CACHE=str(Path(tmp) / "cache"), ANIMELIB_OFFLINE="1")
        from animelib.models import MODELS, train
        from animelib.runs import read_history

        FIXTURES.mkdir(parents=True, exist_ok=True)
        for name, entry in MODELS.items():
            cfg = entry.config_class.from_profile("smoke")
            run_dir = Path(tmp) / cfg.run_name
            train(cfg, run_dir, progress=False, interrupt_at=INTERRUPT_AT.get(name, ()))
            rows = [{k: v for k, v in r.items() if k != "seconds"} for r in read_history(run_dir)]
            (FIXTURES / f"{cfg.run_name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
            print(f"wrote {FIXTURES / f'{cfg.run_name}.jsonl'} ({len(rows)} records)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
