"""Help articles by meaning: parts, the content-hash cache, the child process, no network."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chatserver import config, embeddings, kb
from chatserver.articles import DEFAULT_SOURCE, Article, load_articles


def article(slug: str, body: str, title: str = "Returns") -> Article:
    return Article.build(
        slug=slug, locale="en", title=title, body=body, tags=["return"], synonyms=["send back"]
    )


def test_an_article_is_embedded_whole_with_its_words_and_by_section() -> None:
    body = "Intro text.\n\n## Print the label\nStep one.\n\n## Drop it off\nAt a shop."
    parts = embeddings.parts(article("r", body))
    assert parts == [
        "Returns\nIntro text. Print the label: Step one. Drop it off: At a shop.",
        "Returns\nreturn, send back",
        "Returns\nIntro text.",
        "Returns: Print the label\nStep one.",
        "Returns: Drop it off\nAt a shop.",
    ]


def test_only_changed_articles_are_embedded_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    embedded: list[str] = []

    def fake(texts: list[str]) -> embeddings.Matrix:
        embedded.extend(texts)
        return np.ones((len(texts), embeddings.DIMENSIONS), dtype=np.float32)

    monkeypatch.setattr(embeddings, "encode", fake)
    cache = embeddings.VectorCache(tmp_path)
    first = [article("a", "Send it back."), article("b", "Pay later.", "Paying")]
    vectors = embeddings.build(cache, first)
    assert vectors.slugs == ["a", "b"] and len(embedded) == 4
    embedded.clear()
    changed = [first[0], article("b", "Pay later, or now.", "Paying")]
    assert embeddings.build(embeddings.VectorCache(tmp_path), changed).slugs == ["a", "b"]
    assert embedded == ["Paying\nPay later, or now.", "Paying\nreturn, send back"]
    # A file half-written by a process that died is embedded again, not trusted.
    next(iter(cache.root.iterdir())).write_bytes(b"\x93NUMPY garbage")
    embedded.clear()
    embeddings.build(cache, changed)
    assert len(embedded) == 2
    cache.prune(changed[:1])
    assert len(list(cache.root.iterdir())) == 1
    assert embeddings.build(cache, changed, embed_missing=False).slugs == ["a"]


def test_a_large_import_is_embedded_by_a_child_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embeddings, "CHILD_PROCESS_TEXTS", 3)
    monkeypatch.setattr(embeddings, "PROGRESS_EVERY", 2)
    lines: list[str] = []
    many = [article(f"a{i}", f"Article {i} about returns.") for i in range(3)]
    vectors = embeddings.build(embeddings.VectorCache(tmp_path), many, lines.append)
    assert lines == ["embedded 2/3 articles", "embedded 3/3 articles"]
    here = embeddings.encode(embeddings.parts(many[0]))
    assert np.allclose(vectors.matrix[: len(here)], here, atol=1e-2)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare")
def test_the_model_needs_no_network() -> None:
    code = "from chatserver import embeddings; print(embeddings.encode(['waar is mijn pakket']).shape)"
    run = subprocess.run(["unshare", "-rn", sys.executable, "-c", code], capture_output=True, text=True)
    if run.returncode and "unshare" in run.stderr:
        pytest.skip(f"no network namespace here: {run.stderr.strip()}")
    assert run.stdout.strip() == "(1, 512)", run.stderr


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[kb.KnowledgeBase, kb.KnowledgeBase]:
    shipped, _ = load_articles(DEFAULT_SOURCE)
    words = kb.KnowledgeBase(tmp_path_factory.mktemp("words"))
    meaning = kb.KnowledgeBase(tmp_path_factory.mktemp("meaning"), meaning=True)
    words.sync(shipped)
    meaning.sync(shipped)
    return words, meaning


@pytest.mark.parametrize(
    ("question", "locale", "slug"),
    [
        ("want to use my gmail instead of hotmail for my acount", "en", "change-email-address"),
        ("hoe zeg ik mijn bestelling af", "nl", "bestelling-annuleren"),
        ("wil geen klant meer zijn, kan alles van mij verwijderd worden?", "nl", "account-verwijderen"),
    ],
)
def test_meaning_answers_what_the_words_miss(
    both: tuple[kb.KnowledgeBase, kb.KnowledgeBase], question: str, locale: str, slug: str
) -> None:
    words, meaning = both
    assert words.search(question, locale) == []
    assert [hit.slug for hit in meaning.search(question, locale)][0] == slug


def test_another_process_s_articles_are_searched_by_meaning_from_the_cache(tmp_path: Path) -> None:
    shipped, _ = load_articles(DEFAULT_SOURCE)
    server = kb.KnowledgeBase(tmp_path, meaning=True)
    kb.KnowledgeBase(tmp_path, meaning=True).sync(shipped)  # `chatserver kb index`
    server._indexes["nl"].checked = 0.0
    hits = server.search("hoe zeg ik mijn bestelling af", "nl")
    assert [hit.slug for hit in hits][:1] == ["bestelling-annuleren"]


def test_search_by_meaning_is_a_setting_with_a_clear_error() -> None:
    assert config.load("d", environ={}).search_meaning
    assert not config.load("d", environ={"CHATSERVER_SEARCH_MEANING": "OFF"}).search_meaning
    with pytest.raises(config.ConfigError, match="CHATSERVER_SEARCH_MEANING='maybe': expected on or off"):
        config.load("d", environ={"CHATSERVER_SEARCH_MEANING": "maybe"})
