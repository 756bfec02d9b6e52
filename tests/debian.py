"""Debian packages that tests need (Chromium, a CJK font), installed with apt when missing.

Nothing downloads at run time but from Debian's package registry, and only when this process may use apt
(root, apt-get present); otherwise the tests that need a package are skipped with the reason.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess


def apt_install(packages: list[str], files: list[str], lock_path: str) -> str | None:
    """None when every one of `files` exists (installing `packages` first if not), else why not. Two test modules
    on two xdist workers may ask at once: one installs while the other waits for it (a file lock), and apt itself
    waits for a dpkg lock held by anything else."""
    if all(os.path.exists(path) for path in files):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"{' '.join(packages)} not installed and this user cannot apt-get install it"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all(os.path.exists(path) for path in files):
            return None
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        wait = ["-o", "DPkg::Lock::Timeout=300"]
        for command in (["apt-get", *wait, "update", "-qq"], ["apt-get", *wait, "install", "-y", "-qq", *packages]):
            done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
            if done.returncode != 0:
                return f"could not install {' '.join(packages)} from Debian ({' '.join(command)}): " \
                       f"{done.stderr.strip()[-200:]}"
    return None
