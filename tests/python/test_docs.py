"""The documentation is self-contained: every relative link and anchor in every
Markdown file of the project resolves (the user-facing contract is docs/spec.md,
in the repository), and the README says how to install without root.

Links are checked the way GitHub renders them: a relative path is relative to
the file that holds it; `#anchor` names a heading of the target (GitHub's slug:
lower case, punctuation dropped, spaces to hyphens, -1, -2 ... for repeats).
Links inside code (fenced blocks, `spans`) are not links.
"""
import os
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", "build", "node_modules", ".pytest_cache", ".mypy_cache", "__pycache__"}

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)
FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(?:.|\n)*?\1")


def markdown_files(root):
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS and not x.endswith(".egg-info"))
        for f in sorted(files):
            if f.endswith(".md"):
                yield pathlib.Path(d) / f


def strip_code(text):
    text = FENCE.sub("", text)
    return CODE_SPAN.sub("", text)


def slug(heading):
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts as its text
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    seen, out = {}, set()
    for m in HEADING.finditer(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def broken_links(path):
    """The relative links of one Markdown file that do not resolve."""
    text = strip_code(path.read_text(encoding="utf-8"))
    targets = [m.group(1) for m in LINK.finditer(text)] + REF_DEF.findall(text)
    bad = []
    for target in targets:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            continue  # http:, https:, mailto: ...: not ours to check
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            bad.append(f"{target} (no {dest})")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target} (no heading #{anchor} in {dest.name})")
    return bad


def test_every_relative_link_and_anchor_resolves():
    files = list(markdown_files(ROOT))
    assert any(f.name == "README.md" for f in files) and len(files) >= 5
    problems = {str(f.relative_to(ROOT)): broken_links(f) for f in files}
    assert {f: b for f, b in problems.items() if b} == {}


def test_the_checker_catches_broken_links(tmp_path):
    (tmp_path / "a.md").write_text("# Top\n\n## Two words `code`\n\n[ok](b.md#sub-part) [ok](#two-words-code)\n"
                                   "[bad](missing.md) [bad](b.md#nope) [bad](#absent)\n"
                                   "`[not a link](nowhere.md)`\n\n```\n[nor this](nowhere.md)\n```\n"
                                   "[ok](https://example.invalid/x)\n")
    (tmp_path / "b.md").write_text("# B\n\n## Sub part\n")
    bad = broken_links(tmp_path / "a.md")
    assert len(bad) == 3 and all(b.startswith(("missing.md", "b.md#nope", "#absent")) for b in bad), bad


@pytest.mark.parametrize("heading, anchor", [
    ("tricolor — the user-facing contract", "tricolor--the-user-facing-contract"),
    ("Python (`import tricolor`)", "python-import-tricolor"),
    ("Finalizers, cleanups and weak references", "finalizers-cleanups-and-weak-references"),
    ("Stats fields (Python attributes, Lua table keys; bytes, counts, nanoseconds)",
     "stats-fields-python-attributes-lua-table-keys-bytes-counts-nanoseconds"),
])
def test_slugs_follow_github(heading, anchor):
    assert slug(heading) == anchor


def test_docs_cite_the_contract_that_is_in_the_repository():
    assert (ROOT / "docs" / "spec.md").read_text(encoding="utf-8").startswith("# tricolor — the user-facing contract")
    for name in ("python.md", "lua.md", "design.md"):
        text = (ROOT / "docs" / name).read_text(encoding="utf-8")
        assert "](spec.md)" in text, name
        assert "SPEC.md" not in text, name  # the old citation of a file the repository lacks


def test_readme_gives_the_install_lines_without_root():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for line in ("pip install --user .", "luarocks --lua-version 5.4 --local",
                 'eval "$(luarocks --lua-version 5.4 --local path)"'):
        assert line in readme, line
