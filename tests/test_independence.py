"""The static independence test: layouts -> expected warnings, over a real git repo's tracked files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cortex_tui.independence import check_layout, concurrent_pairs, globs_intersect, waves
from cortex_tui.layout import parse_layout

FILES = ["README.md", "src/api/app.py", "src/api/routes.py", "src/ui/badge.py", "tests/test_api.py",
         "tests/test_ui.py", "docs/index.md"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "r"
    r.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(r)], check=True)
    for f in FILES:
        (r / f).parent.mkdir(parents=True, exist_ok=True)
        (r / f).write_text(f"# {f}\n")
    subprocess.run(["git", "-C", str(r), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(r), "commit", "-q", "-m", "init"], check=True)
    return r


def _layout(*sessions: str, run_extra: str = "") -> str:
    out = f'[run]\nname = "t"\n{run_extra}\n[defaults]\nagent = "shell"\n'
    for s in sessions:
        out += f'\n[[session]]\ncommand = "true"\n{s}\n'
    return out


# (id, layout, expected overlaps as (a, b, shared tracked files, pattern pairs, empty-scope names))
CASES: list[tuple[str, str, list[tuple[str, str, list[str], list[tuple[str, str]], list[str]]]]] = [
    ("disjoint", _layout('name = "api"\nscope = ["src/api/**"]', 'name = "ui"\nscope = ["src/ui/**"]'), []),
    ("one shared file", _layout('name = "api"\nscope = ["src/api/**", "tests/test_api.py"]',
                                'name = "tests"\nscope = ["tests/**"]'),
     [("api", "tests", ["tests/test_api.py"], [], [])]),
    ("sequenced by depends_on", _layout('name = "api"\nscope = ["src/**"]',
                                        'name = "more"\nscope = ["src/api/**"]\ndepends_on = ["api"]'), []),
    ("transitive path", _layout('name = "a"\nscope = ["src/**"]', 'name = "b"\nscope = ["docs/**"]\ndepends_on = ["a"]',
                                'name = "c"\nscope = ["src/**"]\ndepends_on = ["b"]'), []),
    ("siblings of one parent", _layout('name = "a"\nscope = ["docs/**"]',
                                       'name = "b"\nscope = ["src/api/**"]\ndepends_on = ["a"]',
                                       'name = "c"\nscope = ["src/**"]\ndepends_on = ["a"]'),
     [("b", "c", ["src/api/app.py", "src/api/routes.py"], [], [])]),
    ("files not yet created", _layout('name = "new"\nscope = ["src/health/*.py"]',
                                      'name = "all-py"\nscope = ["src/**/*.py"]'),
     [("new", "all-py", [], [("src/health/*.py", "src/**/*.py")], [])]),
    ("patterns that cannot meet", _layout('name = "py"\nscope = ["src/*.py"]', 'name = "md"\nscope = ["src/*.md"]'),
     []),
    ("empty scope overlaps everything", _layout('name = "any"', 'name = "docs"\nscope = ["docs/**"]'),
     [("any", "docs", ["docs/index.md"], [], ["any"])]),
    ("two empty scopes", _layout('name = "x"', 'name = "y"'), [("x", "y", sorted(FILES), [], ["x", "y"])]),
    ("max_parallel 1 runs nothing together", _layout('name = "x"', 'name = "y"', run_extra="max_parallel = 1"), []),
    ("best-of copies compete on purpose", _layout('name = "v"\nvariants = 3\nscope = ["src/**"]'), []),
    ("bare directory path", _layout('name = "a"\nscope = ["src"]', 'name = "b"\nscope = ["src/ui/badge.py"]'),
     [("a", "b", ["src/ui/badge.py"], [], [])]),
    ("tracked and pattern overlap together", _layout('name = "a"\nscope = ["tests/test_api.py", "src/new/**"]',
                                                     'name = "b"\nscope = ["tests/**", "src/**/*.py"]'),
     [("a", "b", ["tests/test_api.py"], [("src/new/**", "src/**/*.py")], [])]),
]


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_layouts_give_expected_warnings(tmp_path: Path, repo: Path, source: str,
                                        expected: list[tuple[str, str, list[str], list[tuple[str, str]], list[str]]]) -> None:
    loaded = parse_layout(source, tmp_path / "l.toml")
    report = check_layout(loaded, repo)
    got = [(o.a, o.b, list(o.files), list(o.patterns), list(o.everything)) for o in report.overlaps]
    assert got == expected


def test_warning_names_sessions_files_fix_and_line(tmp_path: Path, repo: Path) -> None:
    src = _layout('name = "api"\nscope = ["src/api/**", "tests/test_api.py"]', 'name = "tests"\nscope = ["tests/**"]')
    report = check_layout(parse_layout(src, tmp_path / "l.toml"), repo)
    msg = report.overlaps[0].message()
    line = src.splitlines().index("[[session]]", src.splitlines().index("[[session]]") + 1) + 1
    assert msg.startswith(f"{tmp_path / 'l.toml'}:{line}: ")
    assert "'api' and 'tests' may run at the same time" in msg
    assert "tests/test_api.py" in msg
    assert "depends_on = ['api'] to session 'tests'" in msg and "narrow" in msg


def test_empty_scope_says_it_means_anything(tmp_path: Path, repo: Path) -> None:
    report = check_layout(parse_layout(_layout('name = "x"', 'name = "y"\nscope = ["docs/**"]'), tmp_path / "l.toml"),
                          repo)
    assert "empty scope, which means anything" in report.overlaps[0].message()


def test_many_shared_files_are_shortened(tmp_path: Path, repo: Path) -> None:
    report = check_layout(parse_layout(_layout('name = "x"', 'name = "y"'), tmp_path / "l.toml"), repo)
    assert f"(+{len(FILES) - 5} more)" in report.overlaps[0].message()


def test_without_a_repo_patterns_only(tmp_path: Path) -> None:
    src = _layout('name = "a"\nscope = ["src/**"]', 'name = "b"\nscope = ["src/api/x.py"]')
    report = check_layout(parse_layout(src, tmp_path / "l.toml"), None)
    assert [(o.a, o.b, o.files, o.patterns) for o in report.overlaps] == [("a", "b", (), (("src/**", "src/api/x.py"),))]
    assert any("patterns only" in n for n in report.notes)


@pytest.mark.parametrize(("a", "b", "meet"), [
    ("src/**", "src/api/*.py", True), ("docs/**", "src/**", False), ("*.py", "src/a.py", False),
    ("**/*.py", "src/a.py", True), ("src/[ab].py", "src/c.py", False), ("src/[!a].py", "src/a.py", False),
    ("src/[!a].py", "src/b.py", True), ("src/?.py", "src/ab.py", False), ("a*b*c", "*x*", True),
    ("tests/", "tests/x/y", True), ("a/**/b", "a/x/*.py", False), ("a/**/b", "a/x/y/c.py", True), ("src/a-*.py", "src/*-z.py", True),
    ("src/[0-9].txt", "src/[a-z].txt", False),
])
def test_glob_intersection(a: str, b: str, meet: bool) -> None:
    assert globs_intersect(a, b) is meet
    assert globs_intersect(b, a) is meet


def test_pairs_and_waves() -> None:
    g = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": []}
    assert concurrent_pairs(g) == [("a", "e"), ("b", "c"), ("b", "e"), ("c", "e"), ("d", "e")]
    assert waves(g) == [["a", "e"], ["b", "c"], ["d"]]


def test_hostile_file_names_never_reach_the_terminal_raw(tmp_path: Path, repo: Path) -> None:
    evil = "tests/\x1b]0;pwned\x07.py"
    (repo / evil).write_text("x")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    src = _layout('name = "a"\nscope = ["tests/**"]', 'name = "b"\nscope = ["tests/*.py"]')
    msg = check_layout(parse_layout(src, tmp_path / "l.toml"), repo).overlaps[0].message()
    assert "\x1b" not in msg and "\x07" not in msg and "tests/\\x1b]0;pwned\\x07.py" in msg


def test_scope_matcher_agrees_with_in_scope() -> None:
    from cortex_tui.scope import in_scope, scope_matcher

    scope = ["src/**", "tests/test_*.py", "docs/", "README.md", "a/[bc]?/*.txt", "b/[!x].md"]
    paths = ["src/a.py", "src", "srcx", "tests/test_a.py", "tests/x/test_a.py", "docs", "docs/a/b", "README.md",
             "README.mdx", "README.md/x", "a/b1/x.txt", "a/d1/x.txt", "b/y.md", "b/x.md", "x/src/a.py"]
    rx = scope_matcher(scope)
    assert rx is not None and scope_matcher([]) is None
    assert [bool(rx.match(p)) for p in paths] == [in_scope(p, scope) for p in paths]
    assert sum(bool(rx.match(p)) for p in paths) == 7


def test_scope_globs_are_not_fooled_by_newlines_in_file_names() -> None:
    from cortex_tui.scope import in_scope, scope_matcher

    assert not in_scope("src/evil.py\n", ["src/*.py"])  # '$' matched before the final newline
    assert in_scope("src/a\nb.txt", ["src/**"]) and in_scope("src/a\nb", ["src"])
    rx = scope_matcher(["src/*.py"])
    assert rx is not None and not rx.match("src/evil.py\n")
    assert (m := scope_matcher(["src/**"])) is not None and m.match("src/a\nb.txt")


def test_in_scope_strips_only_whole_dot_slash_segments() -> None:
    from cortex_tui.scope import in_scope

    assert not in_scope("./../etc/passwd", ["etc/**"])  # lstrip("./") made it "etc/passwd"
    assert in_scope("./.env", [".env"]) and in_scope("././src/a.py", ["src/**"])
