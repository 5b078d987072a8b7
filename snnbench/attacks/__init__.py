"""Adversarial attacks on spiking classifiers: each configured once, called as ``attack(model, x, y)``."""
from .core import Attack, GradientSpec, project
from .pgd import FGSM, PGD
from .sapgd import SAPGD
from .schedules import apgd_checkpoints

__all__ = ["Attack", "FGSM", "GradientSpec", "PGD", "SAPGD", "apgd_checkpoints", "project"]
