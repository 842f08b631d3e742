"""charnn: train a character-level LSTM on any text and stream new text in its style.

The library's public names, imported on first use so that `import charnn` (and `charnn --help`)
does not pay for importing torch (README, "Python API"):

    from charnn import load_corpus, ModelConfig, TrainConfig, CharRNN, generate, generate_batch, load_model
    from charnn.train import train  # `charnn.train` is the module: it shares the function's name
"""

__version__ = "0.1.0"

_PUBLIC = {
    "CharnnError": "charnn.errors",
    "ModelConfig": "charnn.config",
    "TrainConfig": "charnn.config",
    "Vocab": "charnn.vocab",
    "ReadOptions": "charnn.data",
    "load_corpus": "charnn.data",
    "CharRNN": "charnn.model",
    "generate": "charnn.sample",
    "generate_batch": "charnn.sample",
    "load_model": "charnn.runs",
    "plan_run": "charnn.planning",
    "sample_next": "charnn.drawing",
    "evaluate": "charnn.evaluation",
}


def __getattr__(name: str):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'charnn' has no attribute {name!r}")


__all__ = list(_PUBLIC)


def __dir__() -> list[str]:  # tab completion shows the public names, which are imported on first use
    return sorted({*globals(), *_PUBLIC})
