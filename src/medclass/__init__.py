"""medclass: train, evaluate, compare, tune and explain classifiers for 2D medical images."""

__version__ = "0.1.0"
