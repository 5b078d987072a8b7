"""Training recipes (:mod:`.recipe`), their loss terms (:mod:`.objectives`), adversarial examples for
training (:mod:`.adversary`), RAT's weight constraints (:mod:`.retraction`) and the run (:mod:`.loop`)."""
from .loop import TrainingOutcome, train
from .recipe import Recipe, read_recipe

__all__ = ["Recipe", "TrainingOutcome", "read_recipe", "train"]
