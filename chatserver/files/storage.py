"""Where a file's bytes live: one interface, a data-dir backend and an S3-compatible backend.

Bytes are always streamed in CHUNK_BYTES pieces, never held whole: an upload is spooled to a
file on disk first (counted, hashed and sniffed on the way, see uploads.py) and handed over
from there; a download is read chunk by chunk into the response.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol
from urllib.parse import quote
from xml.etree import ElementTree

from chatserver.files.settings import FilesSettings, S3Settings

# 64 KiB: large enough that a 10 MB file is 160 reads, small enough that a few hundred
# transfers at once hold a few megabytes.
CHUNK_BYTES = 64 * 1024
# An S3 request that has not started answering in this long is a failure, not a wait.
S3_TIMEOUT_SECONDS = 30.0
_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")  # what store.new_id makes


class StorageError(Exception):
    """The storage refused or failed; the file is not stored (or not readable) now."""


class Storage(Protocol):
    """What every backend does, by file key (the file's id)."""

    name: str

    async def put(self, key: str, path: Path, size: int, sha256: str) -> None:
        """Store the spooled file at path under key; the spool file is consumed or left."""

    def read(self, key: str) -> AsyncIterator[bytes]:
        """Yield the stored bytes in chunks; raise KeyError when there is no such file."""

    async def exists(self, key: str) -> int | None:
        """Return the stored size, or None."""

    async def delete(self, key: str) -> None:
        """Remove a file; nothing when it is gone already."""

    async def close(self) -> None:
        """Let go of connections."""


def open_storage(settings: FilesSettings, data_dir: Path) -> Storage:
    """Return the backend the settings name."""
    if settings.backend == "s3":
        assert settings.s3 is not None
        return S3Storage(settings.s3)
    return DirStorage(files_dir(settings, data_dir))


def files_dir(settings: FilesSettings, data_dir: Path) -> Path:
    """Return the dir backend's folder: CHATSERVER_FILES_DIR, else <data dir>/files."""
    return Path(settings.folder) if settings.folder else data_dir / "files"


class DirStorage:
    """Files under <data dir>/files, two levels of fan-out so no folder grows huge.

    Serves one machine: several processes on several machines need the S3 backend.
    """

    name = "dir"

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        if not _KEY.fullmatch(key):
            raise KeyError(key)  # keys are our own ids; never a path from a request
        return self.root / key[:2] / key[2:4] / key

    async def put(self, key: str, path: Path, size: int, sha256: str) -> None:
        target = self.path(key)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        # An upload's spool lives under the same root (spool_dir), so this is a rename; a file
        # brought by migrate-store from elsewhere is copied.
        await asyncio.to_thread(shutil.move, path, target)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        try:
            handle = await asyncio.to_thread(open, self.path(key), "rb")
        except FileNotFoundError:
            raise KeyError(key) from None
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
                yield chunk
        finally:
            handle.close()

    async def exists(self, key: str) -> int | None:
        try:
            return (await asyncio.to_thread(self.path(key).stat)).st_size
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self.path(key).unlink)

    async def keys(self) -> AsyncIterator[str]:
        """Yield every stored key (for migrate-store)."""
        if not self.root.is_dir():
            return
        for first in sorted(self.root.iterdir()):
            if not first.is_dir() or first.name.startswith("."):
                continue
            for second in sorted(first.iterdir()):
                for item in sorted(second.iterdir()):
                    yield item.name

    async def close(self) -> None:
        return None


def spool_dir(settings: FilesSettings, data_dir: Path) -> Path:
    """Return where uploads are spooled while they arrive: beside the files, for a rename."""
    return files_dir(settings, data_dir) / ".incoming"


class S3Storage:
    """Files in an S3-compatible bucket (AWS S3, MinIO, Ceph, moto): path-style requests over
    httpx, each signed with botocore's SigV4, bodies streamed both ways.

    Shared by every process on every machine, so it is the backend for scaling out.
    """

    name = "s3"

    def __init__(self, settings: S3Settings) -> None:
        import httpx  # imported here: a one-machine install never loads it
        from botocore.auth import SigV4Auth
        from botocore.credentials import Credentials

        self.settings = settings
        self._signer = SigV4Auth(Credentials(settings.access_key, settings.secret_key), "s3",
                                 settings.region)
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(S3_TIMEOUT_SECONDS))

    def url(self, key: str = "") -> str:
        bucket = f"{self.settings.endpoint}/{quote(self.settings.bucket)}"
        return f"{bucket}/{quote(self.settings.prefix + key)}" if key else bucket

    def _signed(self, method: str, url: str, payload_sha256: str,
                headers: dict[str, str] | None = None) -> dict[str, str]:
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, headers={
            **(headers or {}), "X-Amz-Content-SHA256": payload_sha256,
        })
        self._signer.add_auth(request)
        return dict(request.headers.items())

    async def put(self, key: str, path: Path, size: int, sha256: str) -> None:
        url = self.url(key)
        headers = self._signed("PUT", url, sha256, {"Content-Length": str(size)})

        async def chunks() -> AsyncIterator[bytes]:
            handle = await asyncio.to_thread(open, path, "rb")
            try:
                while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
                    yield chunk
            finally:
                handle.close()

        try:
            answer = await self._client.put(url, content=chunks(), headers=headers)
        except Exception as failed:
            raise StorageError(f"S3 PUT failed: {type(failed).__name__}: {failed}") from None
        if answer.status_code != 200:
            raise StorageError(f"S3 PUT answered {answer.status_code}: {_s3_error(answer.text)}")
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(path.unlink)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        url = self.url(key)
        request = self._client.build_request("GET", url, headers=self._signed("GET", url, EMPTY_SHA256))
        try:
            answer = await self._client.send(request, stream=True)
        except Exception as failed:
            raise StorageError(f"S3 GET failed: {type(failed).__name__}: {failed}") from None
        try:
            if answer.status_code == 404:
                raise KeyError(key)
            if answer.status_code != 200:
                await answer.aread()
                raise StorageError(f"S3 GET answered {answer.status_code}: {_s3_error(answer.text)}")
            async for chunk in answer.aiter_bytes(CHUNK_BYTES):
                yield chunk
        finally:
            await answer.aclose()

    async def exists(self, key: str) -> int | None:
        url = self.url(key)
        answer = await self._client.head(url, headers=self._signed("HEAD", url, EMPTY_SHA256))
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise StorageError(f"S3 HEAD answered {answer.status_code}")
        return int(answer.headers.get("content-length", "0"))

    async def delete(self, key: str) -> None:
        url = self.url(key)
        answer = await self._client.delete(url, headers=self._signed("DELETE", url, EMPTY_SHA256))
        if answer.status_code not in (200, 204, 404):
            raise StorageError(f"S3 DELETE answered {answer.status_code}: {_s3_error(answer.text)}")

    async def create_bucket(self) -> None:
        """Make the bucket (tests and first set-up); nothing when it is there already and ours."""
        url = self.url()
        answer = await self._client.put(url, headers=self._signed("PUT", url, EMPTY_SHA256))
        if answer.status_code not in (200, 409):
            raise StorageError(f"S3 bucket creation answered {answer.status_code}")

    async def close(self) -> None:
        await self._client.aclose()


EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _s3_error(body: str) -> str:
    """Return the Code and Message of an S3 error document, or the start of the body."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return body[:200]
    found = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in root}
    return f"{found.get('Code', '?')}: {found.get('Message', '')}"[:200]
