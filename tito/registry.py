"""The one registry of the course: modules, checkpoints and milestones.

Every command, test and script reads this table; nothing else lists modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TIERS = ("Foundation", "Architecture", "Optimization")


@dataclass(frozen=True)
class Module:
    number: str  # "01"
    slug: str  # "tensor"
    title: str
    tier: str
    prerequisites: tuple[str, ...]
    capability: str  # the checkpoint this module proves: "I can ..."

    @property
    def name(self) -> str:
        return f"{self.number}_{self.slug}"

    @property
    def source(self) -> Path:
        """Path of the module file, relative to the repository root."""
        return Path("modules") / "source" / self.name / f"{self.name}_dev.py"

    @property
    def export_target(self) -> Path:
        return Path("tinytorch") / f"{self.slug}.py"

    @property
    def tests(self) -> Path:
        return Path("tests") / self.name

    @property
    def unlocks(self) -> tuple[Milestone, ...]:
        return tuple(m for m in MILESTONES if m.unlocked_by == self.number)


@dataclass(frozen=True)
class Milestone:
    id: str  # "M01"
    year: int
    title: str
    folder: str  # folder under milestones/
    unlocked_by: str  # module number
    requires: tuple[str, ...]  # every module the scripts import from
    scripts: tuple[str, ...]  # run in order by `tito milestone run`

    @property
    def path(self) -> Path:
        return Path("milestones") / self.folder


def _m(number, slug, title, tier, prerequisites, capability) -> Module:
    return Module(number, slug, title, tier, tuple(prerequisites), capability)


MODULES: tuple[Module, ...] = (
    _m("01", "tensor", "Tensor", "Foundation", [], "I can build and manipulate tensors"),
    _m("02", "activations", "Activations", "Foundation", ["01"],
       "I can add nonlinearity with stable activation functions"),
    _m("03", "layers", "Layers", "Foundation", ["01", "02"],
       "I can compose layers into networks with parameters"),
    _m("04", "losses", "Losses", "Foundation", ["01", "02"],
       "I can measure how wrong a model is with stable losses"),
    _m("05", "autograd", "Autograd", "Foundation", ["01", "02", "03", "04"],
       "I can compute gradients automatically"),
    _m("06", "optimizers", "Optimizers", "Foundation", ["05"],
       "I can update parameters with SGD and Adam"),
    _m("07", "training", "Training", "Foundation", ["06"],
       "I can train a network end to end"),
    _m("08", "dataloader", "DataLoader", "Architecture", ["07"],
       "I can feed data in shuffled batches"),
    _m("09", "spatial", "Spatial (CNNs)", "Architecture", ["08"],
       "I can build fast convolutional networks"),
    _m("10", "tokenization", "Tokenization", "Architecture", ["01"],
       "I can turn text into tokens"),
    _m("11", "embeddings", "Embeddings", "Architecture", ["10", "05"],
       "I can embed tokens and positions"),
    _m("12", "attention", "Attention", "Architecture", ["11"],
       "I can compute batched self-attention"),
    _m("13", "transformers", "Transformers", "Architecture", ["12", "07"],
       "I can build and train a transformer"),
    _m("14", "profiling", "Profiling", "Optimization", ["13", "09"],
       "I can measure time, memory and FLOPs of a model"),
    _m("15", "quantization", "Quantization", "Optimization", ["14"],
       "I can quantize a model to int8"),
    _m("16", "compression", "Compression", "Optimization", ["14"],
       "I can prune and compress a model"),
    _m("17", "memoization", "Memoization (KV-cache)", "Optimization", ["13"],
       "I can speed up generation with a KV-cache"),
    _m("18", "acceleration", "Acceleration", "Optimization", ["14"],
       "I can accelerate kernels with vectorization"),
    _m("19", "benchmarking", "Benchmarking", "Optimization", ["18"],
       "I can benchmark models fairly"),
    _m("20", "capstone", "Capstone", "Optimization", ["19"],
       "I can ship an optimized model end to end"),
)

_FOUNDATION = ("01", "02", "03", "04", "05", "06", "07")

MILESTONES: tuple[Milestone, ...] = (
    Milestone("M01", 1957, "Perceptron", "01_1957_perceptron", "07", _FOUNDATION,
              ("01_rosenblatt_forward.py", "02_rosenblatt_trained.py")),
    Milestone("M02", 1969, "XOR", "02_1969_xor", "07", _FOUNDATION,
              ("01_xor_crisis.py", "02_xor_solved.py")),
    Milestone("M03", 1986, "MLP", "03_1986_mlp", "08", _FOUNDATION + ("08",),
              ("01_rumelhart_tinydigits.py", "02_rumelhart_mnist.py")),
    Milestone("M04", 1998, "CNN", "04_1998_cnn", "09", _FOUNDATION + ("08", "09"),
              ("01_lecun_tinydigits.py", "02_lecun_cifar10.py")),
    Milestone("M05", 2017, "Transformer", "05_2017_transformer", "13",
              tuple(f"{i:02d}" for i in range(1, 14)),
              ("00_vaswani_attention_proof.py", "01_vaswani_generation.py", "02_vaswani_dialogue.py")),
    Milestone("M06", 2018, "MLPerf", "06_2018_mlperf", "18",
              tuple(f"{i:02d}" for i in range(1, 19)), ()),
)

_BY_NUMBER = {m.number: m for m in MODULES}


def get_module(key: str | int) -> Module:
    """Look a module up by number ("3", "03", 3) or slug ("layers")."""
    text = str(key).strip()
    if text.isdigit():
        text = f"{int(text):02d}"
        if text in _BY_NUMBER:
            return _BY_NUMBER[text]
    for m in MODULES:
        if text in (m.slug, m.name):
            return m
    raise KeyError(f"No module {key!r}: use a number 01-{MODULES[-1].number} or a slug like 'tensor'")


def get_milestone(key: str) -> Milestone:
    text = str(key).strip().upper()
    if text.isdigit():
        text = f"M{int(text):02d}"
    for m in MILESTONES:
        if text in (m.id, m.folder.upper()):
            return m
    raise KeyError(f"No milestone {key!r}: use an id like M01")


def find_root(start: Path | None = None) -> Path:
    """The repository root: the nearest folder above `start` holding tito/registry.py."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "tito" / "registry.py").is_file() and (folder / "modules").is_dir():
            return folder
    # Fall back to the checkout this file lives in (e.g. an editable install).
    return Path(__file__).resolve().parent.parent


def available(root: Path) -> list[Module]:
    """Modules whose source file exists in this checkout, in course order."""
    return [m for m in MODULES if (root / m.source).is_file()]
