"""tito refuses to test or grade where another checkout's `tinytorch` can be imported, e.g. a
student edition run with a venv holding an editable install of the reference repository."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tito.run.isolate import foreign_tinytorch

from .conftest import CI_ENV, clean_python

# The shape of setuptools' editable finder (`__editable___<dist>_finder.py`): a meta-path hook,
# appended after the standard finders, mapping top-level names to a checkout's folders.
FINDER = '''
import sys
from importlib.machinery import PathFinder
from importlib.util import spec_from_file_location
from pathlib import Path

MAPPING = {"tinytorch": %r}


class _EditableFinder:
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname in MAPPING:
            return spec_from_file_location(fullname, Path(MAPPING[fullname]) / "__init__.py")
        parent, _, child = fullname.rpartition(".")
        if parent in MAPPING:
            return PathFinder.find_spec(fullname, path=[MAPPING[parent]])
        return None


def install():
    if _EditableFinder not in sys.meta_path:
        sys.meta_path.append(_EditableFinder)
'''


def editable_install(tmp_path: Path, checkout: Path) -> str:
    """A site dir with a `.pth` that installs an editable finder for `checkout`'s tinytorch,
    activated at interpreter start-up (sitecustomize); returns the PYTHONPATH entry to use."""
    site, boot = tmp_path / "site", tmp_path / "boot"
    site.mkdir()
    boot.mkdir()
    (site / "_other_finder.py").write_text(FINDER % str(checkout / "tinytorch"))
    (site / "__editable__.other.pth").write_text("import _other_finder; _other_finder.install()\n")
    (boot / "sitecustomize.py").write_text(f"import site\nsite.addsitedir({str(site)!r})\n")
    return str(boot)


@pytest.fixture
def other_checkout(tmp_path: Path) -> Path:
    """Another checkout whose package has module 02's export, which the fake repository lacks."""
    other = tmp_path / "reference"
    (other / "tinytorch").mkdir(parents=True)
    (other / "tinytorch" / "__init__.py").write_text('__version__ = "0.1.0"\n')
    (other / "tinytorch" / "activations.py").write_text("def relu(x):\n    return x\n")
    return other


@pytest.fixture
def foreign_env(monkeypatch, tmp_path, other_checkout) -> str:
    """This process and its children run as in a venv holding the other checkout's editable install."""
    boot = editable_install(tmp_path, other_checkout)
    monkeypatch.setenv("PYTHONPATH", boot)
    monkeypatch.setattr("sys.executable", clean_python())
    return boot


def test_the_fake_finder_really_leaks(fake_repo, foreign_env, other_checkout):
    code = "import tinytorch.activations as a; print(a.__file__)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake_repo), foreign_env])}
    out = subprocess.run([clean_python(), "-c", code], cwd=fake_repo, env=env, capture_output=True, text=True)
    assert out.stdout.strip() == str(other_checkout / "tinytorch" / "activations.py"), out.stderr


def test_foreign_tinytorch_names_where_it_resolves(fake_repo, foreign_env, other_checkout):
    found = foreign_tinytorch(fake_repo)
    assert found and str(other_checkout / "tinytorch" / "activations.py") in found
    assert "tinytorch.activations" in found


def test_a_clean_environment_or_a_hook_into_this_checkout_is_fine(fake_repo, monkeypatch, tmp_path):
    monkeypatch.setattr("sys.executable", clean_python())
    monkeypatch.delenv("PYTHONPATH", raising=False)
    assert foreign_tinytorch(fake_repo) is None
    monkeypatch.setenv("PYTHONPATH", editable_install(tmp_path, fake_repo))  # its own editable install
    assert foreign_tinytorch(fake_repo) is None


def test_a_hook_for_files_present_here_is_still_reported(fake_repo, foreign_env, other_checkout):
    (fake_repo / "tinytorch" / "activations.py").write_text("def relu(x):\n    return x\n")
    found = foreign_tinytorch(fake_repo)
    assert found and "import hook" in found and str(other_checkout / "tinytorch") in found


@pytest.mark.parametrize("command", ["complete", "test"])
def test_tito_refuses_to_test_or_grade_there(fake_repo, foreign_env, other_checkout, command):
    env = {**CI_ENV, "PYTHONPATH": os.pathsep.join([str(fake_repo), foreign_env])}
    result = subprocess.run([clean_python(), "-m", "tito", "module", command, "01"], cwd=fake_repo, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    message = " ".join(result.stderr.split())
    assert str(other_checkout / "tinytorch" / "activations.py") in message
    assert f"outside this repository {fake_repo}" in message and "will not test or grade here" in message
    assert f"-m pip install -e {fake_repo}" in message
    assert "Inline tests" not in result.stdout and not (fake_repo / "tinytorch" / "tensor.py").exists()


def test_doctor_reports_it_with_the_fix(fake_repo, foreign_env, other_checkout, tito):
    result = tito(fake_repo, "system", "doctor")
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    leaked = other_checkout / "tinytorch" / "activations.py"
    assert f"problem: `import tinytorch.activations` loads {leaked}" in output
    assert "fix: Use this repository's own environment, or install it into this one" in output


def test_a_probe_that_cannot_answer_refuses_instead_of_letting_grading_through(monkeypatch, tmp_path):
    import subprocess

    from tito.run import isolate

    def broken(*args, **kwargs):
        return subprocess.CompletedProcess(args, 1, stdout="noise from a .pth file\n", stderr="boom\n")

    monkeypatch.setattr(isolate.subprocess, "run", broken)
    assert "could not check which `tinytorch`" in isolate.foreign_tinytorch(tmp_path)

    def noisy(*args, **kwargs):
        body = 'TITO-PROBE {"used": {"tinytorch": null}, "hooks": {}}'
        return subprocess.CompletedProcess(args, 0, stdout=f"a sitecustomize says hello\n{body}\n", stderr="")

    monkeypatch.setattr(isolate.subprocess, "run", noisy)
    assert isolate.foreign_tinytorch(tmp_path) is None
