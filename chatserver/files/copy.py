"""`chatserver migrate-store --files`: copy every file of the store from one storage to another.

Moving from one machine to several means moving the files from the data dir into S3 (or
back). Each file is streamed through a spool file, never held whole; a file the target
already holds at the same size is skipped, so an interrupted copy is simply run again.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path

from chatserver.config import Settings
from chatserver.files import records
from chatserver.files.storage import (
    DirStorage,
    Storage,
    StorageError,
    files_dir,
    open_storage,
    spool_dir,
)
from chatserver.store import Store


class FilesCopyError(Exception):
    """Some files could not be copied; the ones named are missing from the source."""


async def copy(
    store: Store, source: Storage, target: Storage, spool: Path, progress: Callable[[str], None] = print
) -> tuple[int, int]:
    """Copy every file the store names from source to target; return (copied, skipped)."""
    copied = skipped = 0
    missing: list[str] = []
    spool.mkdir(parents=True, exist_ok=True)
    listed = await records.all_ids(store)
    for number, (file_id, size) in enumerate(listed, 1):
        if await target.exists(file_id) == size:
            skipped += 1
            continue
        handle, name = tempfile.mkstemp(dir=spool, prefix="copy-")
        path = Path(name)
        digest = hashlib.sha256()
        try:
            with open(handle, "wb") as out:
                async for chunk in source.read(file_id):
                    digest.update(chunk)
                    await asyncio.to_thread(out.write, chunk)
            await target.put(file_id, path, size, digest.hexdigest())
        except KeyError:
            missing.append(file_id)
            continue
        finally:
            path.unlink(missing_ok=True)
        copied += 1
        if number % 100 == 0 or number == len(listed):
            progress(f"files: {number} of {len(listed)} looked at, {copied} copied")
    if missing:
        raise FilesCopyError(f"{len(missing)} files named in the store are not in the source "
                             f"storage: {', '.join(missing[:10])}")
    return copied, skipped


async def run(settings: Settings) -> int:
    """Copy the data dir's files into the S3 storage the settings name; print what was done."""
    if settings.files.backend != "s3":
        raise FilesCopyError("migrate-store --files copies the data dir's files into S3: set "
                             "CHATSERVER_FILES=s3 and the CHATSERVER_S3_* settings first")
    store = Store(settings.store_url)
    source = DirStorage(files_dir(settings.files, settings.data_dir))
    target = open_storage(settings.files, settings.data_dir)
    try:
        await store.migrate()
        copied, skipped = await copy(store, source, target, spool_dir(settings.files, settings.data_dir))
    except StorageError as failed:
        raise FilesCopyError(f"{failed}; run the same command again to go on") from None
    finally:
        await target.close()
        await store.close()
    print(f"copied {copied} files into S3 ({skipped} were there already); start chatserver "
          "with CHATSERVER_FILES=s3 on every machine")
    return 0
