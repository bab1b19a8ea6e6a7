"""The README cannot rot silently: every `lapa-bench ...` command in its code blocks parses with the CLI's own
parser, and every repository path it links exists (and the checks catch a broken command and a missing path)."""
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def commands(markdown: str) -> list[str]:
    """Every `lapa-bench` command line in the fenced code blocks (continuation lines joined, comments cut)."""
    out, lang, block = [], None, []
    for line in markdown.splitlines():
        if line.startswith("```"):
            if lang is None:
                lang, block = line[3:].strip() or "text", []
                continue
            if lang in ("bash", "sh", "text"):
                for cmd in "\n".join(block).replace("\\\n", " ").splitlines():
                    if cmd.strip().startswith("lapa-bench "):
                        out.append(shlex.split(cmd.strip(), comments=True))
            lang = None
            continue
        if lang is not None:
            block.append(line)
    return [" ".join(shlex.quote(a) for a in c) for c in out]


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.S | re.M)


def links(markdown: str) -> list[str]:
    return [t for t in re.findall(r"\]\(([^)\s]+)\)", markdown) if not re.match(r"[a-z]+://|#", t)]


def parses(command: str) -> str | None:
    """None when ``command`` parses; else why not."""
    from lapa_bench.app.cli import EXTRA_ARGS, build_parser

    argv = shlex.split(command)[1:]
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
    except SystemExit as e:
        return None if e.code == 0 else f"the parser refused it (exit {e.code})"
    if extra and args.command not in EXTRA_ARGS:
        return f"unrecognized arguments {extra}"
    if args.command == "eval" and extra:  # --policy.KEY VALUE: typed against the policy's config
        from lapa_bench.app.cli import _policy_overrides

        try:
            _policy_overrides(args.policy, extra)
        except Exception as e:  # noqa: BLE001
            return str(e)
    return None


def missing(markdown: str, base: Path) -> list[str]:
    return [t for t in links(markdown) if not (base / t.split("#")[0]).exists()]


README = (ROOT / "README.md").read_text()


@pytest.fixture(scope="module")
def readme_code():
    """The README's Python examples run as written (the policy it defines is then registered for its commands)."""
    for code in python_blocks(README):
        exec(compile(code, "README.md", "exec"), {})


def test_readme_python_examples_run(readme_code):
    from lapa_bench.policy import make_policy

    assert python_blocks(README)
    assert make_policy("hold", gripper=-1).act({})[6] == -1


@pytest.mark.parametrize("command", commands(README))
def test_readme_commands_parse(command, readme_code, capsys):
    assert parses(command) is None, f"{command}: {parses(command)}"


def test_readme_links_exist():
    assert links(README), "the README links no file?"
    assert missing(README, ROOT) == []
    for doc in ("docs/evaluation.md", "docs/training.md", "docs/data.md", "results/README.md"):
        assert missing((ROOT / doc).read_text(), (ROOT / doc).parent) == [], doc


def test_the_checks_catch_rot(tmp_path, capsys):
    """A deliberately broken copy: a misspelt flag, an unknown command, a wrong policy key, a missing path."""
    broken = README.replace("lapa-bench eval --policy scratch", "lapa-bench eval --polcy scratch", 1)
    broken += "\n```bash\nlapa-bench evaluate --policy zero\nlapa-bench eval --policy hold --policy.grip 1 --out x\n```\n"
    broken += "\n[gone](results/no_such_folder/README.md)\n"
    bad = [c for c in commands(broken) if parses(c) is not None]
    assert any("--polcy" in c for c in bad) and any("evaluate" in c for c in bad)
    assert missing(broken, ROOT) == ["results/no_such_folder/README.md"]
    assert len(commands(README)) >= 15  # the README keeps its examples
