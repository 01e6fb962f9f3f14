#!/usr/bin/env bash
# Packs what the sandbox's device check needs into .devcheck/ (ignored by git) for the `device`
# tool's `run` to carry: stripped copies of build/src/atrium and the sandbox unit tests, the shared
# libraries the lent GPU host lacks (libsodium, SQLite, seccomp, fmt, spdlog, utf8proc...), a
# snapshot of tests/integration/{conftest,test_sandbox}.py, and the scripts beside this one.
# Then: run(command="bash .devcheck/run.sh", carry=[".devcheck"], timeout_s=300) and read $OUT/log.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$REPO/.devcheck
grep -qx '/.devcheck/' "$REPO/.git/info/exclude" 2>/dev/null || echo '/.devcheck/' >>"$REPO/.git/info/exclude"
rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/lib" "$OUT/tests/integration"
strip -o "$OUT/bin/atrium.real" "$REPO/build/src/atrium"
strip -o "$OUT/bin/sandbox_unit_tests.real" "$REPO/build/src/sandbox/sandbox_unit_tests"
for exe in atrium sandbox_unit_tests; do
  cat >"$OUT/bin/$exe" <<WRAP
#!/bin/sh
# Runs the carried binary with the carried shared libraries.
d=\$(dirname "\$(readlink -f "\$0")")
LD_LIBRARY_PATH="\$d/../lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "\$d/$exe.real" "\$@"
WRAP
  chmod 755 "$OUT/bin/$exe"
done
ln -s sandbox_unit_tests "$OUT/bin/sandbox_unit_tests.sh"
# Everything but glibc, libstdc++/libgcc and OpenSSL (present on the host).
ldd "$REPO/build/src/atrium" "$REPO/build/src/sandbox/sandbox_unit_tests" | awk '/=> \//{print $3}' | sort -u |
  grep -v -E '/(libc|libm|libstdc\+\+|libgcc_s|ld-linux[^/]*|libssl|libcrypto)\.so' |
  while read -r lib; do strip -o "$OUT/lib/$(basename "$lib")" "$(readlink -f "$lib")"; done
cp "$REPO/tests/integration/conftest.py" "$REPO/tests/integration/test_sandbox.py" "$OUT/tests/integration/"
cp "$REPO/tools/devcheck/run.sh" "$REPO/tools/devcheck/checks.py" "$OUT/"
du -sh "$OUT"
