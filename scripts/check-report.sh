#!/usr/bin/env bash
# Checks that the pictures of a training run render in a real browser: trains a tiny classifier
# with --plot and --report, draws Hinton diagrams of its weights (examples/hinton), then has
# headless Chromium dump the report's DOM and screenshot the report and the SVG files, and checks
# that the DOM holds the inline SVG figures and that no screenshot is blank. Not part of CI
# (Chromium is large): run it after changing src/plot/. Installs chromium (and python3-pil) with
# scripts/install-deps.sh report. Exits non-zero on the first failed check.
#
#   bash scripts/check-report.sh [OUT_DIR]     # default: a fresh temporary folder, kept
#
# Environment: BUILD_DIR (default build, configured and built when missing), JOBS (default 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-2}
OUT=${1:-$(mktemp -d /tmp/bp-report-XXXXXX)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

bash scripts/install-deps.sh report

if [[ ! -x $BUILD_DIR/src/cli/backprop || ! -x $BUILD_DIR/examples/hinton ]]; then
  [[ -f $BUILD_DIR/build.ninja ]] || cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build "$BUILD_DIR" -j"$JOBS" --target backprop_cli backprop_example_hinton
fi
BP=$PWD/$BUILD_DIR/src/cli/backprop
HINTON=$PWD/$BUILD_DIR/examples/hinton

# Three noisy 2-D blobs, 300 samples.
/usr/bin/python3 - "$OUT/blobs.csv" <<'PY'
import random, sys
random.seed(3)
centres, names = [(0, 4), (-3.5, -2), (3.5, -2)], ["red", "green", "blue"]
with open(sys.argv[1], "w") as f:
    f.write("x,y,colour\n")
    for i in range(300):
        (cx, cy), name = centres[i % 3], names[i % 3]
        f.write(f"{cx + random.gauss(0, 1.5):.3f},{cy + random.gauss(0, 1.5):.3f},{name}\n")
PY

cd "$OUT"
OMP_NUM_THREADS=1 "$BP" train --data blobs.csv --model "dense(8),relu,dense(3)" --epochs 15 \
  --validation 0.2 --lr 0.1 --out model.bp --plot plots --report report.html
"$HINTON" model.bp plots >/dev/null

chrome=(chromium --headless --no-sandbox --disable-gpu --hide-scrollbars)
"${chrome[@]}" --dump-dom "file://$OUT/report.html" >dom.html 2>/dev/null
"${chrome[@]}" --window-size=1200,2400 --screenshot="$OUT/report.png" "file://$OUT/report.html" \
  >/dev/null 2>&1
for f in loss accuracy confusion_val confusion_test layer1 layer3; do
  "${chrome[@]}" --window-size=700,450 --screenshot="$OUT/$f.png" "file://$OUT/plots/$f.svg" \
    >/dev/null 2>&1
done

/usr/bin/python3 - <<'PY'
import re, sys
from PIL import Image

failed = False
def check(ok, what):
    global failed
    print(("ok    " if ok else "FAIL  ") + what)
    failed |= not ok

dom = open("dom.html", encoding="utf-8").read()
check(dom.count("<svg") == 4, f"report DOM has 4 inline <svg> figures (found {dom.count('<svg')})")
check(dom.count("<polyline") >= 6, "report DOM has the curves (train, val, test for loss and accuracy)")
check(len(re.findall(r'<rect class="cell"', dom)) == 18, "report DOM has 2 confusion matrices of 3x3 cells")
check("precision" in dom and "recall" in dom, "report DOM has per-class precision and recall")

def colours(path):
    img = Image.open(path).convert("RGB")
    pixels = list(img.getdata())
    non_white = sum(1 for p in pixels if p != (255, 255, 255)) / len(pixels)
    return img, set(pixels), non_white

for name in ["report", "loss", "accuracy", "confusion_val", "confusion_test", "layer1", "layer3"]:
    img, seen, non_white = colours(f"{name}.png")
    check(non_white > 0.01, f"{name}.png {img.size[0]}x{img.size[1]} is not blank ({100 * non_white:.1f}% non-white)")
for name in ["loss", "accuracy"]:
    _, seen, _ = colours(f"{name}.png")
    # The first three series colours: blue, orange, green.
    for rgb in [(0x1f, 0x77, 0xb4), (0xff, 0x7f, 0x0e), (0x2c, 0xa0, 0x2c)]:
        check(rgb in seen, f"{name}.png shows the series colour #{bytes(rgb).hex()}")
for name in ["layer1", "layer3", "plots/layer1", "plots/layer3"]:  # screenshots, then our PNGs
    _, seen, _ = colours(f"{name}.png")
    check({(128, 128, 128), (0, 0, 0), (255, 255, 255)} <= seen,
          f"{name}.png has grey background, black and white squares")
sys.exit(1 if failed else 0)
PY
echo "pictures and screenshots in $OUT"
