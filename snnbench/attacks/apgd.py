"""APGD and APGD-T (Croce & Hein, ICML 2020) under snnbench's attack contract."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import Tensor

from .core import Attack, AttackContext, FoolingTracker, LossFn, cross_entropy, project, random_start
from .schedules import apgd_checkpoints


def dlr_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Difference of logits ratio: ``−(z_y − max_{i≠y} z_i) / (z_π1 − z_π3)``, invariant to logit scale."""
    ordered = logits.sort(1).values
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    y_is_top = (ordered[:, -1] == z_y).to(logits.dtype)
    best_other = ordered[:, -2] * y_is_top + ordered[:, -1] * (1 - y_is_top)
    return -(z_y - best_other) / (ordered[:, -1] - ordered[:, -3] + 1e-12)


def targeted_dlr_loss(target: Tensor) -> LossFn:
    """``−(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2)`` towards ``target``."""
    def loss(logits: Tensor, y: Tensor) -> Tensor:
        ordered = logits.sort(1).values
        z_y = logits.gather(1, y[:, None]).squeeze(1)
        z_t = logits.gather(1, target[:, None]).squeeze(1)
        return -(z_y - z_t) / (ordered[:, -1] - 0.5 * (ordered[:, -3] + ordered[:, -4]) + 1e-12)
    return loss


CheckpointHook = Callable[[int, Tensor], None]  # (iteration, per-sample step size after the checkpoint)


def apgd_run(ctx: AttackContext, x: Tensor, y: Tensor, x0: Tensor, tracker: FoolingTracker, *, eps: float,
             steps: int, rho: float = 0.75, momentum: float = 0.75,
             on_checkpoint: Optional[CheckpointHook] = None) -> None:
    """One APGD run from ``x0``; fooling points go to ``tracker``.

    η starts at 2ε per sample. At each checkpoint a sample's η is halved, and the sample restarts from its
    best point, if its loss rose in at most ``rho`` of the steps since the last checkpoint, or if η was not
    halved at the last checkpoint and its best loss has not improved since.
    """
    checkpoints = set(apgd_checkpoints(steps))
    eta = torch.full((len(x),), 2.0 * eps, device=x.device, dtype=x.dtype)
    shape = (-1,) + (1,) * (x.dim() - 1)
    loss, logits, grad = ctx.loss_and_grad(x0, y)
    tracker.update(x0, logits)
    best_loss, x_best, grad_best = loss.clone(), x0.clone(), grad.clone()
    x_prev, x_cur = x0, project(x0 + eta.view(shape) * grad.sign(), x, eps)
    increases = torch.zeros_like(eta)
    halved_last = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    best_at_last_checkpoint, last_checkpoint = best_loss.clone(), 0
    for iteration in range(1, steps + 1):
        new_loss, logits, grad = ctx.loss_and_grad(x_cur, y)
        tracker.update(x_cur, logits)
        increases += (new_loss > loss).to(eta.dtype)
        loss = new_loss
        improved = new_loss > best_loss
        best_loss = torch.where(improved, new_loss, best_loss)
        x_best[improved], grad_best[improved] = x_cur[improved], grad[improved]
        if iteration in checkpoints:
            window = iteration - last_checkpoint
            halve = (increases <= rho * window) | (~halved_last & (best_at_last_checkpoint >= best_loss))
            eta = torch.where(halve, eta / 2, eta)
            x_cur, grad = x_cur.clone(), grad.clone()
            x_cur[halve], grad[halve] = x_best[halve], grad_best[halve]
            halved_last, best_at_last_checkpoint = halve, best_loss.clone()
            increases.zero_()
            last_checkpoint = iteration
            if on_checkpoint is not None:
                on_checkpoint(iteration, eta.clone())
        if iteration == steps:
            break
        z = project(x_cur + eta.view(shape) * grad.sign(), x, eps)
        x_prev, x_cur = x_cur, project(x_cur + momentum * (z - x_cur) + (1 - momentum) * (x_cur - x_prev), x, eps)


@dataclass
class APGD(Attack):
    """Auto-PGD with the cross-entropy (``loss="ce"``) or difference-of-logits-ratio (``"dlr"``) loss."""

    steps: int = 100
    loss_name: str = "ce"
    restarts: int = 1
    rho: float = 0.75
    momentum: float = 0.75

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.loss_name not in ("ce", "dlr"):
            raise ValueError(f"APGD: loss_name must be 'ce' or 'dlr', got {self.loss_name!r}")
        if self.steps < 1 or self.restarts < 1:
            raise ValueError(f"APGD: steps and restarts must be >= 1, got {self.steps} and {self.restarts}")

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        return dlr_loss(logits, y) if self.loss_name == "dlr" else cross_entropy(logits, y)

    def perturb(self, ctx: AttackContext, x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
        tracker = FoolingTracker(x, y)
        for _ in range(self.restarts):
            for run_ctx in self.runs(ctx, x, y):
                ctx.mode.reset()
                apgd_run(run_ctx, x, y, random_start(x, self.eps, generator, exact=True), tracker,
                         eps=self.eps, steps=self.steps, rho=self.rho, momentum=self.momentum)
                if bool(tracker.fooled.all()):
                    return tracker.x_adv
        return tracker.x_adv

    def runs(self, ctx: AttackContext, x: Tensor, y: Tensor) -> list[AttackContext]:
        """The contexts of one restart: a single untargeted run."""
        return [ctx]


@dataclass
class APGDT(APGD):
    """APGD-T: targeted DLR towards each of the ``targets`` classes ranked highest after the true one."""

    targets: int = 9
    loss_name: str = "dlr"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.targets < 1:
            raise ValueError(f"APGDT: targets must be >= 1, got {self.targets}")

    def runs(self, ctx: AttackContext, x: Tensor, y: Tensor) -> list[AttackContext]:
        logits = ctx.logits(x)
        if logits.shape[1] < 4:
            raise ValueError("APGDT: the targeted DLR loss needs at least 4 classes")
        ranked = logits.sort(1).indices
        count = min(self.targets, logits.shape[1] - 1)
        return [dataclasses.replace(ctx, loss_fn=targeted_dlr_loss(ranked[:, -(k + 2)])) for k in range(count)]
