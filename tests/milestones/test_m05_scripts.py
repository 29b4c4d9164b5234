"""M05's scripts on a small text of our own (--data), their errors, and the dialogue script's
non-interactive mode. Short trainings (--iters): these check that the code paths work and fail
clearly; the full runs and their claims are in test_milestones.py."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "milestones" / "05_2017_transformer"
GENERATION, DIALOGUE = FOLDER / "01_vaswani_generation.py", FOLDER / "02_vaswani_dialogue.py"

pytestmark = pytest.mark.slow

# Two scripts, accents and emoji: a character vocabulary is whatever the text holds.
LINES = ["Qu'est-ce que c'est ? Déjà vu, naïve café.", "日本語のテキストも大丈夫です。",
         "Emoji work too: 🎭🎭 and 🐍.", "To be, or not to be, that is the question."]
TEXT = "\n".join(LINES[i % len(LINES)] + f" ({i})" for i in range(300)) + "\n"


def run(script: Path, *args: str, ci: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "1"
    return subprocess.run([sys.executable, str(script), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def generated(stdout: str) -> str:
    """The text between the dialogue script's '--- prompt ... ---' line and the closing '---'."""
    match = re.search(r"^--- prompt .*? ---\n(.*?)\n---$", stdout, flags=re.S | re.M)
    assert match, stdout
    return match.group(1)


def test_generation_trains_on_any_utf8_file(corpus, tmp_path):
    checkpoint = tmp_path / "ck" / "model.npz"
    proc = run(GENERATION, "--data", str(corpus), "--preset", "quick", "--iters", "30",
               "--eval-windows", "8", "--sample-chars", "40", "--checkpoint", str(checkpoint))
    assert proc.returncode in (0, 1), proc.stderr  # 30 iterations: the claim may or may not hold
    assert "Traceback" not in proc.stderr
    out = proc.stdout
    assert f"data: {corpus}: {len(TEXT):,} characters, vocabulary of {len(set(TEXT))}" in out
    assert f"train = first {int(len(TEXT) * 0.9):,}" in out
    assert "held-out loss is measured on 512 characters: 8 windows of 64" in out
    for name in ("uniform", "unigram", "bigram", "trigram"):
        assert re.search(rf"held-out loss, {name} +\d+\.\d{{4}}", out), name
    assert "sample before training" in out and "sample after training" in out
    assert "[PASS] the saved checkpoint reloads to identical predictions" in out
    assert re.search(r"RESULT: (reached|NOT reached)", out)
    assert checkpoint.is_file() and (checkpoint.parent / "model.tokenizer.json").is_file()


@pytest.mark.parametrize(
    "content, message",
    [(None, "text file not found"),
     ("é".encode() + b"abc\xff", "byte offset 5"),
     (b"much too short", "needs at least 641")],
    ids=["missing", "not-utf8", "too-short"],
)
def test_generation_data_errors_are_clear(tmp_path, content, message):
    path = tmp_path / "data.txt"
    if content is not None:
        path.write_bytes(content)
    proc = run(GENERATION, "--data", str(path), "--checkpoint", str(tmp_path / "model.npz"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "model.npz").exists()


def test_generation_refuses_bad_numbers(tmp_path):
    for bad in (("--iters", "0"), ("--eval-windows", "0"), ("--sample-chars", "-1"), ("--preset", "huge")):
        proc = run(GENERATION, *bad, "--checkpoint", str(tmp_path / "model.npz"))
        assert proc.returncode == 2 and "usage:" in proc.stderr, bad


def test_dialogue_non_interactive_trains_once_then_reuses_the_checkpoint(corpus, tmp_path):
    checkpoint = tmp_path / "model.npz"
    args = ("--data", str(corpus), "--checkpoint", str(checkpoint), "--iters", "20",
            "--prompt", "To be", "--tokens", "50", "--top-k", "5", "--seed", "3")
    first = run(DIALOGUE, *args, ci=True)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"no checkpoint at {checkpoint}" in first.stdout and "training a small GPT" in first.stdout
    assert checkpoint.is_file()
    text = generated(first.stdout)
    assert text.startswith("To be") and len(text) == len("To be") + 50
    assert set(text) <= set(TEXT)
    assert "prompt>" not in first.stdout  # no interactive loop
    # Without CI but with stdin not a terminal: still one generation, from the saved model.
    second = run(DIALOGUE, *args)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "no checkpoint" not in second.stdout and "prompt>" not in second.stdout
    made_by = f"trained by 02_vaswani_dialogue.py (preset quick) on {corpus} (20 iterations, seed 3)"
    assert made_by in second.stdout
    assert generated(second.stdout) == text  # same checkpoint, same seed: same text
    assert "RESULT: reached" in second.stdout
    other = run(DIALOGUE, *args[:-1], "4", "--temperature", "0")
    assert other.returncode == 0 and generated(other.stdout).startswith("To be")


def test_dialogue_errors_are_clear(corpus, tmp_path):
    checkpoint = tmp_path / "model.npz"
    assert run(DIALOGUE, "--data", str(corpus), "--checkpoint", str(checkpoint), "--iters", "5",
               "--tokens", "5", ci=True).returncode == 0
    unknown = run(DIALOGUE, "--checkpoint", str(checkpoint), "--prompt", "Zebra", ci=True)
    assert unknown.returncode == 2 and "the prompt cannot be encoded" in unknown.stderr
    assert "'Z'" in unknown.stderr
    other_text = tmp_path / "other.txt"
    other_text.write_text(TEXT.upper(), encoding="utf-8")
    mismatch = run(DIALOGUE, "--checkpoint", str(checkpoint), "--data", str(other_text), ci=True)
    assert mismatch.returncode == 2 and "was not trained on" in mismatch.stderr
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])  # truncated
    broken = run(DIALOGUE, "--checkpoint", str(checkpoint), ci=True)
    assert broken.returncode == 2 and "cannot load checkpoint" in broken.stderr
    assert "Traceback" not in broken.stderr
    for bad, says in ((("--tokens", "0"), "must be >= 1, got 0"),
                      (("--temperature", "-1"), "must be a finite number >= 0, got -1"),
                      (("--temperature", "nan"), "must be a finite number >= 0, got nan"),
                      (("--top-k", "0"), "must be >= 1"),
                      (("--iters", "0"), "must be >= 1"), (("--prompt", ""), "must not be empty"),
                      (("--seed", "-1"), "must be >= 0, got -1"),
                      (("--seed", "1.5"), "'1.5' is not a whole number")):
        proc = run(DIALOGUE, "--checkpoint", str(checkpoint), *bad)
        assert proc.returncode == 2 and f"argument {bad[0]}: {says}" in proc.stderr, (bad, proc.stderr)
        assert "Traceback" not in proc.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_dialogue_on_a_terminal_asks_for_prompts_until_an_empty_line(corpus, tmp_path):
    import pty

    main, replica = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    os.write(main, b"To be\nQu'est\n\n")
    proc = subprocess.run([sys.executable, str(DIALOGUE), "--data", str(corpus), "--checkpoint",
                           str(tmp_path / "model.npz"), "--iters", "5", "--tokens", "12"],
                          cwd=ROOT, env=env, stdin=replica, capture_output=True, text=True, timeout=600)
    os.close(replica)
    os.close(main)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("prompt> ") == 3  # two prompts answered, then the empty line ends
    assert re.search(r"prompt> To be.{12}\n", proc.stdout, flags=re.S)
    assert re.search(r"prompt> Qu'est.{12}\n", proc.stdout, flags=re.S)


def test_each_kind_of_run_keeps_its_own_checkpoint():
    """Only the documented run (default preset and iterations, seed 0, the shipped corpus) writes the
    model part 2 loads by default; a short trial, another seed, preset or data set gets its own file."""
    sys.path.insert(0, str(ROOT / "milestones"))
    from _common import import_script

    gen = import_script("05_2017_transformer/01_vaswani_generation.py")
    default = gen.PRESETS["default"]
    assert gen.checkpoint_for("default", default, 0, None, "") == gen.CHECKPOINT
    others = {gen.checkpoint_for("default", gen.replace(default, iters=50), 0, None, ""),
              gen.checkpoint_for("default", default, 1, None, ""),
              gen.checkpoint_for("quick", gen.PRESETS["quick"], 0, None, ""),
              gen.checkpoint_for("default", default, 0, "mine.txt", "my text"),
              gen.checkpoint_for("default", default, 0, "mine.txt", "my other text")}
    assert len(others) == 5 and gen.CHECKPOINT not in others
    assert all(p.parent == gen.CHECKPOINT.parent and p.suffix == ".npz" for p in others)


def test_a_full_disk_is_one_line_and_leaves_no_partial_file(corpus, tmp_path):
    """Every file write fails with EFBIG (RLIMIT_FSIZE 0, SIGXFSZ ignored), as on a full disk."""
    import resource
    import signal

    def no_room() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    folder = tmp_path / "ck"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "TINYTORCH_TRAINING_CACHE"}
    args = ("--data", str(corpus), "--iters", "2", "--eval-windows", "4", "--sample-chars", "10",
            "--checkpoint", str(folder / "m.npz"))
    proc = subprocess.run([sys.executable, str(GENERATION), *args], cwd=ROOT, capture_output=True, text=True,
                          env={**env, "PYTHONDONTWRITEBYTECODE": "1"}, timeout=600, preexec_fn=no_room)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    line = next(ln for ln in proc.stderr.splitlines() if "could not save" in ln)
    assert str(folder / "m.npz") in line and len(line) < 300
    assert list(folder.iterdir()) == []
