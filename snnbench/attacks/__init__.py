"""Adversarial attacks on spiking classifiers: each configured once, called as ``attack(model, x, y)``."""
from .apgd import APGD, APGDT
from .core import Attack, GradientSpec, project
from .pgd import FGSM, PGD
from .sapgd import SAPGD
from .schedules import apgd_checkpoints

__all__ = ["APGD", "APGDT", "Attack", "FGSM", "GradientSpec", "PGD", "SAPGD", "apgd_checkpoints", "project"]
