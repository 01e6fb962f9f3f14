"""A test OCI registry for the browser tests (images.spec.ts): builds the tiny busybox image of
tests/integration/images_fixture.py (ID=atrium-test in /etc/os-release), starts docker-registry on
a free 127.0.0.1 port, pushes the image as test/busybox:v1, prints one JSON line
{"host", "repo", "tag", "digest"} and serves until its stdin closes; then stops the registry and
removes its files."""
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
from images_fixture import Registry, build_oci_image, busybox_rootfs  # noqa: E402


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="atrium-e2e-registry-"))
    registry = None
    try:
        layout = build_oci_image(busybox_rootfs(tmp / "rootfs"), tmp / "layout", "v1")
        registry = Registry(tmp / "registry")
        digest = registry.push(layout, "v1", "test/busybox")
        print(json.dumps({"host": registry.host, "repo": "test/busybox", "tag": "v1", "digest": digest}), flush=True)
        sys.stdin.read()  # until the test closes it (or exits)
    finally:
        if registry:
            registry.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
