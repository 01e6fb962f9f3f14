"""A test OCI registry for the browser tests (images.spec.ts): builds the tiny busybox image of
tests/integration/images_fixture.py (ID=atrium-test in /etc/os-release), starts docker-registry on
a free 127.0.0.1 port, pushes the image as test/busybox:v1, makes a squashfs of the same root (an
import), prints one JSON line {"host", "repo", "tag", "digest", "squashfs"} and serves until its
stdin closes; then stops the registry and removes its files."""
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
from images_fixture import Registry, build_oci_image, busybox_rootfs  # noqa: E402
from sif_fixture import mksquashfs  # noqa: E402


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="atrium-e2e-registry-"))
    registry = None
    try:
        root = busybox_rootfs(tmp / "rootfs")
        layout = build_oci_image(root, tmp / "layout", "v1")
        squashfs = tmp / "busybox.squashfs"
        mksquashfs(root, squashfs)
        registry = Registry(tmp / "registry")
        digest = registry.push(layout, "v1", "test/busybox")
        print(json.dumps({"host": registry.host, "repo": "test/busybox", "tag": "v1", "digest": digest,
                          "squashfs": str(squashfs)}), flush=True)
        sys.stdin.read()  # until the test closes it (or exits)
    finally:
        if registry:
            registry.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
