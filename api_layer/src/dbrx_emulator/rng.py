"""Seeded random streams (docs/EMULATOR.md §11).

Every stream is derived by name from one master seed, so adding a fault rule or a latency setting never shifts the
ids or row counts another stream produces. Stream names in use: `ids`, `tokens`, `rows`, `events`, `latency`,
`faults:<index>`.
"""

from __future__ import annotations

import hashlib
import random
import uuid


def derive(seed: int, stream: str) -> random.Random:
    """A `random.Random` for `stream`, independent of every other stream of the same seed."""
    digest = hashlib.sha256(f"{seed}:{stream}".encode()).digest()
    return random.Random(int.from_bytes(digest, "big"))  # noqa: S311 - simulation, not cryptography


def stable_uuid(seed: int, *parts: object) -> str:
    """A version-4-shaped UUID that depends only on `seed` and `parts` (no stream is consumed)."""
    digest = hashlib.sha256(":".join([str(seed), *map(str, parts)]).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


class Streams:
    """The named random streams of one master seed; streams are created on first use."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._streams: dict[str, random.Random] = {}

    def get(self, name: str) -> random.Random:
        """The stream called `name`."""
        stream = self._streams.get(name)
        if stream is None:
            stream = self._streams[name] = derive(self.seed, name)
        return stream

    def uuid4(self, stream: str = "ids") -> str:
        """A UUID with version-4 bits, drawn from `stream`."""
        return str(uuid.UUID(int=self.get(stream).getrandbits(128), version=4))

    def token(self, nbytes: int = 32, stream: str = "tokens") -> str:
        """A hex string of `nbytes` random bytes, drawn from `stream`."""
        raw = self.get(stream).getrandbits(nbytes * 8).to_bytes(nbytes, "big")
        return raw.hex()
