"""Regenerate the example datasets byte for byte (no third-party packages needed).

The example repository tracks three small datasets with DVC; their raw files are not in Git
(``dvc add`` ignores them), the committed local remote ``dvc-storage/`` holds them, and this
script can rebuild them exactly, so that ``dvc status`` stays clean after regeneration:

- ``imagenet-mini/``          a tiny image-folder dataset (3 classes x 4 PNGs of 16x16 pixels
                              and a ``labels.txt``), tracked as a directory (``.dir`` md5);
- ``fraud-transactions.csv``  400 card transactions with a ``is_fraud`` label;
- ``instructions.jsonl``      64 instruction/response pairs for the LLM fine-tune.

Usage: ``python datasets/generate.py`` (writes next to this file), then
``dvc add datasets/imagenet-mini datasets/fraud-transactions.csv datasets/instructions.jsonl``
and ``dvc push`` if the content was changed on purpose.

Everything is derived from fixed seeds with :class:`random.Random`, whose sequence is stable
across Python versions; PNGs use stored (uncompressed) deflate blocks so that the bytes do not
depend on the zlib version.
"""

from __future__ import annotations

import json
import random
import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

CLASSES = {"cat": (200, 120, 60), "dog": (90, 60, 30), "bird": (40, 120, 210)}
IMAGES_PER_CLASS = 4
SIZE = 16
FRAUD_ROWS = 400
INSTRUCTIONS = 64


def png_bytes(pixels: list[list[tuple[int, int, int]]]) -> bytes:
    """Return an RGB PNG of ``pixels`` (rows of (r, g, b)), deterministic bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    height, width = len(pixels), len(pixels[0])
    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 0))
        + chunk(b"IEND", b"")
    )


def jitter(rng: random.Random, base: tuple[int, int, int]) -> tuple[int, int, int]:
    """Return ``base`` with each channel moved by up to 40, clamped to 0..255."""
    r, g, b = (max(0, min(255, c + rng.randint(-40, 40))) for c in base)
    return (r, g, b)


def make_images(root: Path) -> None:
    """Write ``imagenet-mini/train/<class>/<n>.png`` and ``labels.txt``."""
    rng = random.Random(50)
    for label, base in CLASSES.items():
        folder = root / "train" / label
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(IMAGES_PER_CLASS):
            pixels = [[jitter(rng, base) for _x in range(SIZE)] for _y in range(SIZE)]
            (folder / f"{n:02d}.png").write_bytes(png_bytes(pixels))
    (root / "labels.txt").write_text("".join(f"{label}\n" for label in CLASSES))


def make_fraud(path: Path) -> None:
    """Write a CSV of card transactions; about 4% are fraudulent."""
    rng = random.Random(7)
    merchants = ["grocery", "fuel", "online", "travel", "electronics", "restaurant"]
    countries = ["DE", "FR", "US", "GB", "NL", "BR"]
    lines = ["transaction_id,amount,merchant,country,hour,card_present,is_fraud"]
    for i in range(FRAUD_ROWS):
        merchant = rng.choice(merchants)
        country = rng.choice(countries)
        hour = rng.randrange(24)
        card_present = rng.random() < 0.7
        amount = round(rng.lognormvariate(3.5, 1.0), 2)
        risk = (merchant in ("online", "electronics")) + (hour < 5) + (not card_present)
        is_fraud = rng.random() < 0.01 + 0.04 * risk
        lines.append(
            f"tx{i:05d},{amount:.2f},{merchant},{country},{hour},"
            f"{int(card_present)},{int(is_fraud)}"
        )
    path.write_text("\n".join(lines) + "\n")


def make_instructions(path: Path) -> None:
    """Write instruction/response pairs as JSON Lines, one object per line."""
    rng = random.Random(1234)
    topics = ["Kubernetes", "GPUs", "Git", "DVC", "model serving", "hyperparameters"]
    verbs = ["Explain", "Summarise", "Give one tip about", "List two facts about"]
    with path.open("w") as out:
        for i in range(INSTRUCTIONS):
            topic, verb = rng.choice(topics), rng.choice(verbs)
            record = {
                "id": i,
                "instruction": f"{verb} {topic}.",
                "response": f"A short, factual answer about {topic} (example {i}).",
            }
            out.write(json.dumps(record, sort_keys=True) + "\n")


def main() -> None:
    """Regenerate every dataset next to this script."""
    make_images(HERE / "imagenet-mini")
    make_fraud(HERE / "fraud-transactions.csv")
    make_instructions(HERE / "instructions.jsonl")


if __name__ == "__main__":
    main()
