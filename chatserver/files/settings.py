"""Where files live and how large they may be, from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# A phone photo is 3-6 MB and a scanned PDF a few more; a larger file is better mailed as a
# link than carried by a chat. Every byte is counted as it arrives, never trusted from a header.
DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024
# Five such files a conversation: a chat that needs more is a ticket's work, and the cap keeps
# one visitor from filling the disk (or the bucket) through one chat.
DEFAULT_MAX_CONVERSATION_BYTES = 50 * 1024 * 1024
# SigV4 signs a region; S3-compatible servers (MinIO, moto, Ceph) accept the default one.
DEFAULT_S3_REGION = "us-east-1"


class FilesConfigError(ValueError):
    """A files setting that cannot be used."""


@dataclass(frozen=True)
class S3Settings:
    endpoint: str  # https://s3.eu-west-1.amazonaws.com, http://127.0.0.1:9000, ...
    bucket: str
    access_key: str
    secret_key: str
    region: str = DEFAULT_S3_REGION
    prefix: str = ""  # keys are <prefix><file id>


@dataclass(frozen=True)
class FilesSettings:
    backend: str = "dir"  # "dir": a folder on this machine; "s3": shared by several machines
    # The folder of the dir backend; empty is <data dir>/files. Several processes on one
    # machine (each with its own data dir) share one folder here.
    folder: str = ""
    s3: S3Settings | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_conversation_bytes: int = DEFAULT_MAX_CONVERSATION_BYTES
    # How readers of a mail reach this server (https://chat.example.com); without it, mails
    # name a chat's files but cannot link them.
    public_url: str = ""


def _bytes(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise FilesConfigError(f"{name}={value!r}: expected a number of bytes above 0")
    return int(value)


def from_env(env: Mapping[str, str]) -> FilesSettings:
    """Read CHATSERVER_FILES and its companions; raise FilesConfigError on a bad value."""
    backend = env.get("CHATSERVER_FILES", "dir").strip().lower() or "dir"
    if backend not in ("dir", "s3"):
        raise FilesConfigError(f"CHATSERVER_FILES={backend!r}: expected dir or s3")
    max_file = _bytes(env, "CHATSERVER_FILE_MAX_BYTES", DEFAULT_MAX_FILE_BYTES)
    max_conversation = _bytes(env, "CHATSERVER_CONVERSATION_FILES_MAX_BYTES",
                              DEFAULT_MAX_CONVERSATION_BYTES)
    if max_conversation < max_file:
        raise FilesConfigError("CHATSERVER_CONVERSATION_FILES_MAX_BYTES must be at least "
                               "CHATSERVER_FILE_MAX_BYTES")
    s3 = None
    if backend == "s3":
        s3 = s3_from_env(env)
    public_url = env.get("CHATSERVER_PUBLIC_URL", "").strip().rstrip("/")
    if public_url and not public_url.startswith(("https://", "http://")):
        raise FilesConfigError("CHATSERVER_PUBLIC_URL must be an http(s):// address")
    return FilesSettings(backend, env.get("CHATSERVER_FILES_DIR", "").strip(), s3, max_file,
                         max_conversation, public_url)


def s3_from_env(env: Mapping[str, str]) -> S3Settings:
    """Read the S3 settings; every one but region and prefix is required."""
    names = {"endpoint": "CHATSERVER_S3_ENDPOINT", "bucket": "CHATSERVER_S3_BUCKET",
             "access_key": "CHATSERVER_S3_ACCESS_KEY", "secret_key": "CHATSERVER_S3_SECRET_KEY"}
    values = {key: env.get(name, "").strip() for key, name in names.items()}
    missing = [names[key] for key, value in values.items() if not value]
    if missing:
        raise FilesConfigError(f"CHATSERVER_FILES=s3 needs {', '.join(missing)}")
    if not values["endpoint"].startswith(("https://", "http://")):
        raise FilesConfigError("CHATSERVER_S3_ENDPOINT must be an http(s):// address")
    return S3Settings(
        endpoint=values["endpoint"].rstrip("/"), bucket=values["bucket"],
        access_key=values["access_key"], secret_key=values["secret_key"],
        region=env.get("CHATSERVER_S3_REGION", "").strip() or DEFAULT_S3_REGION,
        prefix=env.get("CHATSERVER_S3_PREFIX", "").strip(),
    )
