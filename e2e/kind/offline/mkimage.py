#!/usr/bin/env python3
"""Write a `docker save`-format image archive from layer tarballs, for `ctr images import`.

No image builder runs on these machines without a registry, and none is needed: an image is a
JSON config plus ordered layer tarballs. Each layer's diff id is the sha256 of its uncompressed
tar; a `LAYER.sha256` file beside a layer caches it (the base layer is large and rarely changes).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import tarfile
from pathlib import Path


def layer_digest(path: Path) -> str:
    cache = path.with_name(path.name + ".sha256")
    if cache.exists() and cache.stat().st_mtime >= path.stat().st_mtime:
        return cache.read_text().strip()
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    digest = "sha256:" + h.hexdigest()
    cache.write_text(digest + "\n")
    return digest


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tag", required=True, action="append", help="repeat for more tags")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--config", default="{}", help="JSON of the image config's `config` object")
    p.add_argument("layers", nargs="+", type=Path)
    a = p.parse_args()

    diff_ids = [layer_digest(layer) for layer in a.layers]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": json.loads(a.config),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "toolpod e2e/local"} for _ in a.layers],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_names = [f"{d.split(':')[1]}/layer.tar" for d in diff_ids]
    manifest = [{"Config": config_name, "RepoTags": a.tag, "Layers": layer_names}]

    tmp = a.out.with_name(a.out.name + ".tmp")
    with tarfile.open(tmp, "w") as tar:
        add_bytes(tar, config_name, config_bytes)
        for layer, name in zip(a.layers, layer_names, strict=True):
            tar.add(layer, arcname=name)
        add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    tmp.replace(a.out)
    print(config_name.removesuffix(".json"))


if __name__ == "__main__":
    main()
