"""The chatserver command as a person types it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from conftest import Server


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatserver", *args], capture_output=True, text=True, timeout=60,
        env=env,
    )


def test_sites_and_agents_add_and_list(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    added = run("sites", "add", "--name", "Shop", "--origin", "https://shop.example/",
                "--data-dir", data)
    assert added.returncode == 0, added.stderr
    key = json.loads(run("sites", "list", "--json", "--data-dir", data).stdout)[0]["key"]
    assert key in added.stdout and 'data-site="' + key in added.stdout

    agent = run("agents", "add", "--email", "Ann@Example.com", "--name", "Ann", "--site", key,
                "--data-dir", data)
    assert agent.returncode == 0 and "password (shown once): " in agent.stdout
    listed = json.loads(run("agents", "list", "--json", "--data-dir", data).stdout)
    assert [(a["email"], a["role"]) for a in listed] == [("ann@example.com", "agent")]
    assert "password" not in json.dumps(listed)
    assert json.loads(run("sites", "list", "--json", "--data-dir", data).stdout)[0]["origins"] == [
        "https://shop.example"
    ]


def test_bad_arguments_give_one_line_and_no_traceback(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    cases = [
        ("agents", "frob"),
        ("serve", "--port", "http"),
        ("serve", "--port", "70000"),
        ("sites", "add", "--name", "X", "--origin", "javascript:alert(1)", "--data-dir", data),
        ("agents", "add", "--email", "not-an-email", "--name", "A", "--data-dir", data),
        ("agents", "add", "--email", "a@b.example", "--name", "A", "--password", "short",
         "--data-dir", data),
        ("agents", "add", "--email", "a@b.example", "--name", "A", "--site", "site_nope",
         "--data-dir", data),
        ("sites", "list", "--data-dir", "/proc/version/data"),
    ]
    for args in cases:
        result = run(*args)
        assert result.returncode != 0, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("chatserver: error:"), (args, result.stderr)
    twice = [run("agents", "add", "--email", "a@b.example", "--name", "A", "--data-dir", data)
             for _ in range(2)]
    assert twice[0].returncode == 0 and "already exists" in twice[1].stderr


def test_data_dir_from_the_environment(tmp_path: Path) -> None:
    env = {**dict(__import__("os").environ), "CHATSERVER_DATA_DIR": str(tmp_path / "env-data")}
    assert run("sites", "add", "--name", "Env", env=env).returncode == 0
    assert (tmp_path / "env-data" / "chatserver.db").exists()


def test_serve_creates_the_demo_once_and_reuses_it(tmp_path: Path) -> None:
    server = Server(tmp_path / "data")
    server.start()
    health = httpx.get(server.http + "/healthz").json()
    assert health["status"] == "ok" and health["store"] == "sqlite"
    server.stop()
    first = server.log.read_text()
    assert "admin sign-in (shown once, keep it): admin@chatserver.local / " in first
    password = first.split("admin@chatserver.local / ")[1].split()[0]
    server.start()
    server.stop()
    second = server.log.read_text()[len(first):]
    assert password not in second and "admin@chatserver.local" in second
    assert first.split("key ")[1].split()[0] == second.split("key ")[1].split()[0]


def test_kb_index_search_and_eval(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    source = tmp_path / "articles" / "en"
    source.mkdir(parents=True)
    (source / "gift-wrap.md").write_text(
        "---\ntitle: Can you wrap my gift?\nslug: gift-wrap\nlocale: en\ntags: products\n"
        "synonyms: present, wrapping paper\n---\nWe wrap any order in paper for 3.50.\n"
    )
    (source / "broken.md").write_text("no front matter here\n")
    indexed = run("kb", "index", "--source", str(source.parent), "--data-dir", data)
    assert indexed.returncode == 1 and "added 1" in indexed.stdout
    assert "broken.md" in indexed.stderr
    found = run("kb", "search", "can u wrap a present", "--json", "--data-dir", data)
    assert [hit["slug"] for hit in json.loads(found.stdout)] == ["gift-wrap"]
    # The shipped help centre is gone from this data dir: the folder replaced it.
    gone = run("kb", "search", "where is my parcel", "--data-dir", data)
    assert "goes to a person" in gone.stdout
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "gift wrapping", "expected": ["gift-wrap"], "locale": "en"}\n')
    scored = run("kb", "eval", str(questions), "--data-dir", data)
    assert "hit@3 1.000" in scored.stdout, scored.stdout
    with questions.open("a") as out:
        out.write('{"question": "tell me a joke", "expected": [], "locale": "en", "kind": "out_of_scope"}\n')
    report = json.loads(run("kb", "eval", str(questions), "--json", "--data-dir", data).stdout)
    assert (report["count"], report["shown@3"], report["out_of_scope"], report["out_of_scope_shown"]) == (
        1, 1.0, 1, 0.0
    )
    assert report["person"] == 0 and report["person_shown"] is None
    missing = run("kb", "index", "--source", str(tmp_path / "nope"), "--data-dir", data)
    assert missing.returncode == 2 and missing.stderr.strip().endswith("no articles found in "
                                                                       f"{tmp_path / 'nope'}")
