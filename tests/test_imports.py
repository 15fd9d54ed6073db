"""`import adaptlr` stays light: no flax, matplotlib or data packages (checked in a subprocess)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("flax", "matplotlib", "mnist1d", "sklearn", "tqdm", "torch", "orbax", "pandas")


def test_import_adaptlr_imports_no_heavy_package() -> None:
    code = (
        "import sys, adaptlr\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import adaptlr pulled in: {out.stdout.strip()}"


def test_import_is_not_vacuous() -> None:
    # The same probe does see a heavy package once it is imported, so the test above can fail.
    code = "import sys, adaptlr, json\nprint('json' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
