"""The wheel: one import name (``lapa_bench``), the policies/ and tasks/ folders inside it."""
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {"lapa_bench": "lapa_bench", "policies": "lapa_bench.policies", "tasks": "lapa_bench.tasks"}


def test_every_package_folder_is_listed_under_the_one_name():
    """pyproject.toml lists the packages by hand (a folder mapped under another name cannot be found by
    setuptools' package search): a new policy folder must be in the list, or the wheel would lack it."""
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {name + ("" if d == f.parent else "." + ".".join(f.parent.relative_to(d).parts))
               for folder, name in FOLDERS.items() for d in [REPO / folder] for f in d.rglob("__init__.py")
               if "__pycache__" not in f.parts}
    assert listed == folders, f"add to pyproject.toml: {sorted(folders - listed)}; remove: {sorted(listed - folders)}"


def test_the_wheel_installs_lapa_bench_alone(tmp_path):
    """No top-level ``policies`` or ``tasks`` beside a user's own code: the wheel holds ``lapa_bench`` only."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True, cwd=tmp_path)
    wheel = next(tmp_path.glob("lapa_bench-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"lapa_bench"}, top
    for module in ("lapa_bench/policies/lapa/modeling_lapa.py", "lapa_bench/tasks/env.py",
                   "lapa_bench/tasks/floating_gripper.py", "lapa_bench/policies/scripted.py"):
        assert module in names


def test_the_committed_artifacts_are_in_the_one_form_the_code_reads():
    """scripts/migrate_artifacts.py has nothing left to rewrite (a cell made by an older revision is migrated
    before it lands), so the code needs no branch for older forms."""
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "migrate_artifacts.py"), "--check"], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, f"run scripts/migrate_artifacts.py; it would rewrite:\n{r.stdout}{r.stderr}"
