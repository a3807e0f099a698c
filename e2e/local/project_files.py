"""Print the files (and their directories) the `toolpod` distribution installed into the venv.

Run inside the image's root filesystem after `pip install --no-deps toolpod`: the list, from the
distribution's RECORD plus everything under its own package directories (compiled bytecode
included), becomes the image's top layer, so a code change rebuilds only that small layer.
"""

import csv
import glob
import os

VENV = "/opt/toolpod"
site = glob.glob(f"{VENV}/lib/python3*/site-packages")[0]
[record] = glob.glob(f"{site}/toolpod-*.dist-info/RECORD")
paths: set[str] = set()
with open(record, newline="") as f:
    for row in csv.reader(f):
        path = os.path.normpath(os.path.join(site, row[0]))
        # Whole package directories (runner/, controller/, the dist-info), with their bytecode.
        top = os.path.relpath(path, site).split(os.sep)[0]
        if not top.startswith(".."):
            for d, _, files in os.walk(os.path.join(site, top)):
                paths.add(d)
                paths.update(os.path.join(d, n) for n in files)
        while path.startswith(VENV + "/"):
            paths.add(path)
            path = os.path.dirname(path)
print("\n".join("." + p for p in sorted(paths) if os.path.lexists(p)))
