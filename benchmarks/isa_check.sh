#!/usr/bin/env bash
# edgepick on another x86-64 CPU: the tests whose outcome depends on the instruction set, and a digits-cnn sweep with
# the precisions that CPU offers, so the ISA-dependent paths (BF16/FP16 candidates, FP32 pinning, what each runtime says
# it compiled for) are checked on a CPU other than the developer's.
#
#   benchmarks/isa_check.sh OUTDIR [SITE_TARBALL]
#
# OUTDIR receives machine.txt (lscpu, flags, versions), tests.txt (pytest), digits.txt and digits.json (the sweep).
# SITE_TARBALL: a .tar.xz of extra Python packages to put on PYTHONPATH (for a machine without network where some
# runtime is missing); PYTHON picks the interpreter (default python3). Runtimes that are not installed are skipped by
# the tests and left out of the sweep, never faked.
set -u
out=${1:?usage: benchmarks/isa_check.sh OUTDIR [SITE_TARBALL]}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONPATH="$PWD/src"
if [ -n "${2:-}" ]; then
  mkdir -p /tmp/isa-site && tar -xJf "$2" -C /tmp/isa-site && export PYTHONPATH="/tmp/isa-site:$PYTHONPATH"
fi
export EDGEPICK_HOME=/tmp/isa-check-home PYTHONUNBUFFERED=1

{
  date -u; lscpu; grep -m1 '^flags' /proc/cpuinfo; "$py" -V
  "$py" - <<'EOF'
import importlib
for name in ("torch", "onnxruntime", "openvino", "cv2", "onnx", "onnxslim", "onnx2torch", "sklearn"):
    try:
        if name == "onnx2torch":  # imports torchvision; edgepick imports it without where torchvision cannot load
            from edgepick.convert.onnx_to_torch import import_onnx2torch
            import_onnx2torch()
        module = importlib.import_module(name)
        print(name, getattr(module, "__version__", "(no __version__)"))
    except Exception as e:  # absent here: its tests skip and its runtime is left out
        print(name, "not available:", type(e).__name__, str(e)[:80])
from edgepick.plan import precision
flags = precision.host_isa_flags()
print("edgepick ISA flags:", flags)
print("native here:", {p: precision.native(p, flags) for p in ("bf16", "fp16")})
EOF
} > "$out/machine.txt" 2>&1

timeout 200 "$py" -m pytest -q -p no:cacheprovider -m "not slow" \
  tests/plan/test_precision.py tests/plan/test_precision_quantized_source.py tests/convert/test_onnx2torch_fixes.py tests/core/test_units.py \
  > "$out/tests.txt" 2>&1
echo "pytest exit $?" >> "$out/tests.txt"

# Not installed here -> a "not-installed" row, said as such.
runtimes=torch-eager,onnxruntime,openvino,torch-compile,torchscript,opencv-dnn
echo "runtimes: $runtimes" >> "$out/machine.txt"
timeout 480 "$py" -m edgepick.cli.main run digits-cnn --runtimes "$runtimes" --precision auto --threads 1 --batch 1 \
  > "$out/digits.txt" 2>&1
echo "run exit $?" >> "$out/digits.txt"
run_id=$(grep -o 'edgepick run [0-9a-f]\{10\}' "$out/digits.txt" | head -1 | awk '{print $3}')
[ -n "$run_id" ] && "$py" -m edgepick.cli.main show "$run_id" --json > "$out/digits.json" 2>&1
exit 0
