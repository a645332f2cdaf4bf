#!/usr/bin/env bash
# Debian's Chromium for the web console's browser tests (tests/browser/), driven by Playwright
# for Python (the [dev] extra) through executable_path: `playwright install` downloads a
# browser build of its own, which this project never relies on. Fonts so screenshots have text.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# fonts-wqy-microhei: CJK text (the dev config's Chinese subjects), 1.6 MB against noto-cjk's 56 MB.
bash "$root/scripts/apt-install.sh" chromium fonts-dejavu-core fonts-wqy-microhei
