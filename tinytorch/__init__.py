"""TinyTorch: the deep-learning framework you build yourself, one course module at a time.

This file is provided (not exported by any module). Each `tinytorch/<slug>.py` appears when
you complete its module with `tito module complete NN`.
"""

from importlib import import_module
from pathlib import Path

__version__ = "0.1.0"

# Autograd registers backward rules on the Tensor's op path when it is imported, so load it
# with the package once module 05 has been exported. Until then tensors record no graph.
if (Path(__file__).parent / "autograd.py").is_file():
    import_module("tinytorch.autograd")
