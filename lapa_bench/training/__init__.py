"""Training core: the one loop (:mod:`.loop`), the one checkpoint layout (:mod:`.checkpoint`) and the
training-method registry (:mod:`.registry`). Methods live in ``policies/<name>/train.py``."""
from lapa_bench.training.loop import TrainConfig, train_model  # noqa: F401
from lapa_bench.training.registry import (Inputs, available_methods, get_method, register_command,  # noqa: F401
                                          register_method)
