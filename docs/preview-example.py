#!/usr/bin/env python3
"""Makes docs/preview-example.png: an interference field of 512 x 768 f32 with a NaN hole.

    .venv/bin/python docs/preview-example.py   # needs numpy and target/release/arrfile
"""
import subprocess
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
y, x = np.mgrid[0:512, 0:768].astype(np.float32)
field = np.sin(np.hypot(x - 250, y - 200) / 18) + np.cos(np.hypot(x - 560, y - 330) / 25)
field[np.hypot(x - 640, y - 110) < 45] = np.nan
with tempfile.TemporaryDirectory() as tmp:
    npy = Path(tmp) / "field.npy"
    np.save(npy, field.astype(np.float32))
    arr = Path(tmp) / "field.arr"
    exe = str(REPO / "target" / "release" / "arrfile")
    subprocess.run([exe, "convert", str(npy), "-o", str(arr), "--quiet"], check=True)
    subprocess.run([exe, "preview", str(arr), "-o", str(REPO / "docs" / "preview-example.png")], check=True)
