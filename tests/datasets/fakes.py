"""A stand-in for the RecBole wheel: the same member paths, a handful of invented rows.

No real MovieLens row is committed anywhere: every title, id and rating below is made up."""

from __future__ import annotations

import hashlib
import io
import subprocess
import zipfile
from collections.abc import Sequence
from pathlib import Path

from recsys.datasets import movielens

ITEM_FILE = (
    "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    "10\tThe Quiet Lighthouse\t1994\tAnimation Children's Comedy\n"
    "11\tCrème Brûlée à Minuit\t1968\tDrama\n"  # non-ASCII title
    "12\tNo Year Given\t\tSci-Fi Film-Noir\n"  # empty year, two genres
    "13\tBroken Year\tabc\tWestern\n"  # malformed year
    "14\tTwice Listed\t2001\tDrama Drama\n"  # a repeated genre
)
USER_FILE = (
    "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
    "7\t17\tF\tstudent\t00000\n"
    "8\t18\tM\tengineer\t11111\n"
    "9\t56\tF\tretired\t22222\n"
)
INTER_FILE = (
    "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    "7\t10\t5\t0\n"
    "7\t11\t1\t1000000000\n"
    "8\t12\t3\t1234567890\n"
    "9\t13\t4.5\t1700000000\n"
)


def build_wheel(
    item: str | None = ITEM_FILE,
    user: str | None = USER_FILE,
    inter: str | None = INTER_FILE,
    *,
    crlf: bool = False,
    encoding: str = "utf-8",
) -> bytes:
    """The fake wheel's bytes; members given as None are left out."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, text in (
            (movielens.ITEM_MEMBER, item),
            (movielens.USER_MEMBER, user),
            (movielens.INTER_MEMBER, inter),
        ):
            if text is not None:
                body = text.replace("\n", "\r\n") if crlf else text
                archive.writestr(member, body.encode(encoding))
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakePip:
    """Stands in for `python -m pip`: `download ... --dest DIR` writes `files` into DIR."""

    def __init__(
        self, files: dict[str, bytes] | None = None, *, returncode: int = 0, stderr: str = ""
    ) -> None:
        self.files = files or {}
        self.returncode = returncode
        self.stderr = stderr
        self.calls: list[list[str]] = []

    @classmethod
    def serving(cls, wheel: bytes) -> FakePip:
        return cls({movielens.WHEEL_FILENAME: wheel})

    def __call__(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(args))
        dest = Path(args[args.index("--dest") + 1])
        if self.returncode == 0:
            for name, data in self.files.items():
                (dest / name).write_bytes(data)
        return subprocess.CompletedProcess(list(args), self.returncode, "", self.stderr)
