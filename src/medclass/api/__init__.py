"""The Python API behind the CLI: each function does what the command of the same name does."""

from medclass.api.evaluate import evaluate
from medclass.api.predict import predict
from medclass.api.train import TrainResult, train

__all__ = ["TrainResult", "evaluate", "predict", "train"]
