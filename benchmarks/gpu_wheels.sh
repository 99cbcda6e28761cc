#!/usr/bin/env bash
# Wheels of the packages that the GPU checks need and the accelerator's python3 lacks
# (the NWB stack), at the versions of this project's environment, for Python 3.12 on
# x86-64 Linux, into .whl/ (ignored by git; carried to the accelerator with the tree).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PYVER=${PYVER:-3.12}
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo /.whl/ >> .git/info/exclude; }
specs=$("$PY" - <<'PYEOF'
from importlib.metadata import version
names = ["pynwb", "hdmf", "ruamel.yaml", "jsonschema", "jsonschema-specifications",
         "referencing", "rpds-py", "platformdirs"]
print(" ".join(f"{n}=={version(n)}" for n in names))
PYEOF
)
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64; do
  platforms+=(--platform "$p")
done
# shellcheck disable=SC2086
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" \
  --implementation cp "${platforms[@]}" -d .whl $specs
ls -l .whl
