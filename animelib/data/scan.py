"""Which files an image folder holds: a recursive scan, the image-file count, and seeded picks.

Every regular file is listed with its size and modification time (the decoded cache's key); files are recognised
by their content later, when decoded, so the scan opens none of them.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

# Names of image files: what count_images counts. A file that no format recognises is "corrupt" when binary and
# named like an image, else "not an image".
IMAGE_SUFFIXES = frozenset(
    ".jpg .jpeg .jpe .jfif .png .apng .gif .bmp .dib .webp .tif .tiff .ppm .pgm .pbm .pnm .ico .jp2 .j2k"
    " .avif .heic .heif".split()
)


def scan_folder(folder: Path) -> list[tuple[str, int, int]]:
    """Regular files under folder, recursively: sorted (relative posix path, size, mtime in ns)."""
    entries = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in names:
            path = Path(root, name)
            try:
                st = path.stat()
            except OSError:  # a broken link
                continue
            if stat.S_ISREG(st.st_mode):
                entries.append((path.relative_to(folder).as_posix(), st.st_size, st.st_mtime_ns))
    entries.sort()
    return entries


def count_images(folder) -> int:
    """Files under ``folder`` named like images (recursively), without opening any: Table 1's count."""
    return sum(Path(rel).suffix.lower() in IMAGE_SUFFIXES for rel, _, _ in scan_folder(Path(folder).expanduser()))


def seeded_order(entries: list, seed: int) -> list:
    """Entries in an order fixed by ``seed`` and each file's name: adding a file leaves the others' order."""
    key = lambda e: hashlib.blake2b(f"{seed}/{e[0]}".encode(), digest_size=8).digest()
    return sorted(entries, key=key)
