#!/usr/bin/env bash
# The GPU path, checked in one command on a CUDA machine, in at most 8 minutes on an H200:
#   1. the CUDA tests (pytest --run-gpu tests/test_gpu.py)
#   2. the speed matrix: the three models at the full profile's widths (128 px for the translation models),
#      batch 64-512, base / amp / amp+channels-last / compile, with the fraction of the card's bf16 peak
#   3. one epoch of the full DCGAN on up to 115,087 avatars rendered on every core, timed end to end
#   4. a smoke run killed after its first checkpoint, resumed on the GPU and on the CPU, against an uninterrupted one
#
#   bash benchmarks/gpu_check.sh              # from the repository root, on a CUDA machine
#   bash benchmarks/gpu_check.sh --dry-run    # every part at a tiny size on the CPU (also: DEVICE=cpu)
#   bash benchmarks/gpu_check.sh --help       # this text
#
# Uses the machine's python3 (PYTHON=... to change) with PYTHONPATH=. and no network; wheels in .whl/ are
# installed first (pip --no-deps). Everything goes to $OUT (default ./gpu-check): summary.md, log.txt, pytest.txt,
# matrix.md, matrix.jsonl, epoch.json, resume.json, parts.tsv (8 files, no folders). GPU_CHECK_SECONDS (default
# 470) is the time the parts share; PEAK_TFLOPS=... gives the card's dense bf16 peak where its name is not known.
USAGE="usage: bash benchmarks/gpu_check.sh [--dry-run | --help]"
if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then  # the usage line, then the comment above
  echo "$USAGE"; echo
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
  exit 0
fi
if (( $# > 1 )) || [[ -n "${1:-}" && "$1" != "--dry-run" ]]; then
  echo "$USAGE" >&2
  exit 2
fi
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=0
if [[ "${1:-}" == "--dry-run" || "${DEVICE:-}" == "cpu" ]]; then DRY=1; fi
OUT="${OUT:-$PWD/gpu-check}"
PY="${PYTHON:-python3}"
TOTAL="${GPU_CHECK_SECONDS:-470}"  # the parts' shares of this are worked out as they go
mkdir -p "$OUT"
rm -f "$OUT/parts.tsv"
exec > >(tee -a "$OUT/log.txt") 2>&1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 ANIMELIB_OFFLINE=1 HF_HUB_OFFLINE=1
export ANIMELIB_CACHE="${ANIMELIB_CACHE:-${TMPDIR:-/tmp}/animelib-gpu-check-cache}"  # shared by the parts

if compgen -G ".whl/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/animelib-site \
    .whl/*.whl && export PYTHONPATH="$PYTHONPATH:/tmp/animelib-site"
fi

if (( DRY )); then
  DEVICE=cpu
  CARD="cpu (dry run: every part at a tiny size)"
else
  DEVICE=cuda
  CARD="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)"
  [[ -n "$CARD" ]] || CARD="$("$PY" -c 'import torch; print(torch.cuda.get_device_name())' 2>/dev/null || echo '?')"
fi
case "$CARD" in  # dense bf16 TFLOP/s, for the matrix's fraction of peak (PEAK_TFLOPS=... for another card)
  *H200*) PEAK=790 ;;
  *H100*) PEAK=989 ;;
  *A100*) PEAK=312 ;;
  *L4*) PEAK=121 ;;
  *) PEAK="" ;;
esac
PEAK="${PEAK_TFLOPS:-$PEAK}"
CARD="$CARD${PEAK:+ (bf16 peak $PEAK TFLOP/s)}; torch $("$PY" -c 'import torch; print(torch.__version__)')"
echo "[gpu-check] $CARD; results in $OUT"

# seconds a part may take: its cap, less what the later parts need (never under 20)
share() { local cap=$1 reserve=$2 left=$(( TOTAL - SECONDS - reserve )); (( left < cap )) && cap=$left
          (( cap < 20 )) && cap=20; echo "$cap"; }
part() {  # name, seconds, command...: run it under a time limit, record its exit code and duration
  local name=$1 limit=$2 start=$SECONDS code
  shift 2
  echo "[gpu-check] $name (at most $limit s): $*"
  timeout -k 10 "$limit" "$@"
  code=$?
  printf '%s\t%s\t%s\n' "$name" "$code" "$(( SECONDS - start ))" >> "$OUT/parts.tsv"
}

if (( DRY )); then  # limits that a shared, busy CPU still meets (the parts take about a quarter of them idle)
  part "1 CUDA tests" 120 "$PY" -m pytest --run-gpu tests/test_gpu.py -q -p no:cacheprovider -rs \
    > "$OUT/pytest.txt" 2>&1
  part "2 matrix" 240 "$PY" benchmarks/matrix.py --device cpu --preset tiny --steps 2 --warmup 1 --repeats 1 \
    --no-plain --parallel-render --out "$OUT/matrix.jsonl" --table "$OUT/matrix.md"
  part "3 full DCGAN epoch" 240 "$PY" benchmarks/gpu_epoch.py --device cpu --profile smoke --images 128 \
    --out "$OUT/epoch.json"
  part "4 resume" 420 "$PY" benchmarks/gpu_resume.py --device cpu --epochs 2 --out "$OUT/resume.json"
else
  part "1 CUDA tests" "$(share 170 270)" "$PY" -m pytest --run-gpu tests/test_gpu.py -q -p no:cacheprovider -rs \
    --durations=0 > "$OUT/pytest.txt" 2>&1
  budget=$(share 150 170)
  part "2 matrix" $(( budget + 60 )) "$PY" benchmarks/matrix.py --device cuda --preset gpu-check --steps 10 \
    --warmup 3 --repeats 1 --no-plain --parallel-render ${PEAK:+--peak-tflops "$PEAK"} --budget-s "$budget" \
    --out "$OUT/matrix.jsonl" --table "$OUT/matrix.md"
  part "3 full DCGAN epoch" "$(share 110 70)" "$PY" benchmarks/gpu_epoch.py --device cuda --render-seconds 60 \
    --out "$OUT/epoch.json"
  part "4 resume" "$(share 90 0)" "$PY" benchmarks/gpu_resume.py --device cuda --out "$OUT/resume.json"
fi

"$PY" benchmarks/gpu_summary.py "$OUT" "$CARD"
echo "[gpu-check] done in $SECONDS s"
! cut -f2 "$OUT/parts.tsv" | grep -qv '^0$'  # exit code 1 when a part failed
