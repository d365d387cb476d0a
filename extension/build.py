"""Package the extension: dist/savy-chrome.zip (Chrome Web Store / Load unpacked) and
dist/savy-firefox.xpi (unsigned; Firefox's manifest uses background.scripts instead of a service worker).

    python extension/build.py            # writes extension/dist/
    npx web-ext sign --source-dir extension/dist/firefox --channel unlisted \\
        --api-key $AMO_JWT_ISSUER --api-secret $AMO_JWT_SECRET   # a signed XPI (needs an AMO account)
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DIST = HERE / "dist"
SKIP = {"dist", "tests", "build.py", "node_modules"}
GECKO_ID = "savy@savy.invalid"


def files() -> list[Path]:
    return sorted(p for p in HERE.rglob("*") if p.is_file() and p.relative_to(HERE).parts[0] not in SKIP)


def firefox_manifest(manifest: dict) -> dict:
    m = dict(manifest)
    m["background"] = {"scripts": ["lib/shared.js", "background.js"]}
    m.pop("minimum_chrome_version", None)
    # Sävy collects nothing: page text goes only to the loopback server the user runs. Firefox reads
    # data_collection_permissions from 140 (ESR) on, Firefox for Android from 142
    m["browser_specific_settings"] = {"gecko": {"id": GECKO_ID, "strict_min_version": "140.0",
                                                "data_collection_permissions": {"required": ["none"]}},
                                      "gecko_android": {"strict_min_version": "142.0"}}
    return m


def main() -> None:
    shutil.rmtree(DIST, ignore_errors=True)
    manifest = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
    for name, mf in (("chrome", manifest), ("firefox", firefox_manifest(manifest))):
        root = DIST / name
        for f in files():
            dest = root / f.relative_to(HERE)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
        (root / "manifest.json").write_text(json.dumps(mf, indent=2, ensure_ascii=False), encoding="utf-8")
        archive = DIST / ("savy-chrome.zip" if name == "chrome" else "savy-firefox.xpi")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(p for p in root.rglob("*") if p.is_file()):
                z.write(f, f.relative_to(root).as_posix())
        print(f"{archive.relative_to(HERE.parent)}  ({archive.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
