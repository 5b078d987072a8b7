"""Adversarial attacks on spiking classifiers: each configured once, called as ``attack(model, x, y)``."""
from .apgd import APGD, APGDT
from .core import Attack, AttackRun, GradientSpec, project
from .pgd import FGSM, MIFGSM, PGD, RFGSM, AdamPGD
from .sapgd import SAPGD
from .schedules import apgd_checkpoints
from .square import Square

__all__ = ["APGD", "APGDT", "AdamPGD", "Attack", "AttackRun", "FGSM", "GradientSpec", "MIFGSM", "PGD", "RFGSM", "SAPGD",
           "Square", "apgd_checkpoints", "project"]
