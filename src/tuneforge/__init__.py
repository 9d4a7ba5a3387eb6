"""TuneForge: carry a pretrained model from a data file to an evaluated, reloadable, served model."""

__version__ = "0.1.0"

__all__ = ["__version__"]
