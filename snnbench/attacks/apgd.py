"""APGD and APGD-T (Croce & Hein, ICML 2020) under snnbench's attack contract."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import Tensor

from .core import ActiveSamples, Attack, AttackContext, FoolingTracker, cross_entropy, project, random_start
from .schedules import apgd_checkpoints


def dlr_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Difference of logits ratio: ``−(z_y − max_{i≠y} z_i) / (z_π1 − z_π3)``, invariant to logit scale."""
    ordered = logits.sort(1).values
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    y_is_top = (ordered[:, -1] == z_y).to(logits.dtype)
    best_other = ordered[:, -2] * y_is_top + ordered[:, -1] * (1 - y_is_top)
    return -(z_y - best_other) / (ordered[:, -1] - ordered[:, -3] + 1e-12)


def targeted_dlr_loss(logits: Tensor, labels_and_targets: Tensor) -> Tensor:
    """``−(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2)``; the second column of ``labels_and_targets`` is ``t``.

    The target travels with the labels, one row per sample, so that it shrinks with the batch when fooled
    samples leave it.
    """
    y, target = labels_and_targets[:, 0], labels_and_targets[:, 1]
    ordered = logits.sort(1).values
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    z_t = logits.gather(1, target[:, None]).squeeze(1)
    return -(z_y - z_t) / (ordered[:, -1] - 0.5 * (ordered[:, -3] + ordered[:, -4]) + 1e-12)


CheckpointHook = Callable[[int, Tensor, Tensor], None]  # (iteration, sample indices, their step sizes after it)


@dataclass
class _Trajectories:
    """APGD's per-sample state, one row per sample still attacked."""

    x: Tensor
    y: Tensor
    x_cur: Tensor
    x_prev: Tensor
    loss: Tensor
    grad: Tensor
    best_loss: Tensor
    x_best: Tensor
    grad_best: Tensor
    eta: Tensor
    increases: Tensor
    halved_last: Tensor
    best_at_last_checkpoint: Tensor

    def select(self, keep: Tensor) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name)[keep])


def apgd_run(ctx: AttackContext, x: Tensor, y: Tensor, x0: Tensor, tracker: FoolingTracker, *, eps: float,
             steps: int, rho: float = 0.75, momentum: float = 0.75,
             on_checkpoint: Optional[CheckpointHook] = None) -> None:
    """One APGD run from ``x0`` on the samples ``tracker`` has not seen fooled; fooling points go to it.

    η starts at 2ε per sample. At each checkpoint a sample's η is halved, and the sample restarts from its
    best point, if its loss rose in at most ``rho`` of the steps since the last checkpoint, or if η was not
    halved at the last checkpoint and its best loss has not improved since.
    """
    checkpoints = set(apgd_checkpoints(steps))
    active = ActiveSamples(tracker)
    if active.done:
        return
    x, y, x0 = active.rows(x, y, x0)
    loss, logits, grad = ctx.loss_and_grad(x0, y)
    eta = torch.full((len(x),), 2.0 * eps, device=x.device, dtype=x.dtype)
    s = _Trajectories(x, y, x0, x0, loss, grad, loss.clone(), x0.clone(), grad.clone(), eta,
                      torch.zeros_like(eta), torch.zeros(len(x), dtype=torch.bool, device=x.device), loss.clone())
    if not _drop_fooled(active, ctx, s, x0, logits):
        return
    shape = (-1,) + (1,) * (x.dim() - 1)
    s.x_cur = project(s.x_cur + s.eta.view(shape) * s.grad.sign(), s.x, eps)
    last_checkpoint = 0
    for iteration in range(1, steps + 1):
        new_loss, logits, grad = ctx.loss_and_grad(s.x_cur, s.y)
        s.increases += (new_loss > s.loss).to(s.eta.dtype)
        s.loss, s.grad = new_loss, grad
        improved = new_loss > s.best_loss
        s.best_loss = torch.where(improved, new_loss, s.best_loss)
        s.x_best[improved], s.grad_best[improved] = s.x_cur[improved], grad[improved]
        if not _drop_fooled(active, ctx, s, s.x_cur, logits):
            return
        if iteration in checkpoints:
            window = iteration - last_checkpoint
            halve = (s.increases <= rho * window) | (~s.halved_last & (s.best_at_last_checkpoint >= s.best_loss))
            s.eta = torch.where(halve, s.eta / 2, s.eta)
            s.x_cur, s.grad = s.x_cur.clone(), s.grad.clone()
            s.x_cur[halve], s.grad[halve] = s.x_best[halve], s.grad_best[halve]
            s.halved_last, s.best_at_last_checkpoint = halve, s.best_loss.clone()
            s.increases.zero_()
            last_checkpoint = iteration
            if on_checkpoint is not None:
                on_checkpoint(iteration, active.index.clone(), s.eta.clone())
        if iteration == steps:
            break
        z = project(s.x_cur + s.eta.view(shape) * s.grad.sign(), s.x, eps)
        s.x_prev, s.x_cur = s.x_cur, project(s.x_cur + momentum * (z - s.x_cur) + (1 - momentum) * (s.x_cur - s.x_prev),
                                             s.x, eps)


def _drop_fooled(active: ActiveSamples, ctx: AttackContext, s: _Trajectories, x_current: Tensor,
                 logits: Tensor) -> bool:
    """Record fooling points and shrink the state to the samples left; False when none is left."""
    keep = active.update(x_current, logits)
    if keep is not None:
        s.select(keep)
        ctx.mode.select(keep)
    return not active.done


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

    @property
    def loss_label(self) -> str:
        return self.loss_name

    def perturb(self, ctx: AttackContext, x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
        tracker = FoolingTracker(x, y)
        for _ in range(self.restarts):
            for run_ctx, run_labels in self.runs(ctx, x, y):
                ctx.mode.reset()
                apgd_run(run_ctx, x, run_labels, random_start(x, self.eps, generator, exact=True), tracker,
                         eps=self.eps, steps=self.steps, rho=self.rho, momentum=self.momentum)
                if bool(tracker.fooled.all()):
                    return tracker.x_adv
        return tracker.x_adv

    def runs(self, ctx: AttackContext, x: Tensor, y: Tensor) -> list[tuple[AttackContext, Tensor]]:
        """The runs of one restart, each a context and the labels its loss reads: one untargeted run."""
        return [(ctx, y)]


@dataclass
class APGDT(APGD):
    """APGD-T: targeted DLR towards each of the ``targets`` classes ranked highest after the true one."""

    targets: int = 9
    loss_name: str = "dlr"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.targets < 1:
            raise ValueError(f"APGDT: targets must be >= 1, got {self.targets}")
        if self.loss_name != "dlr":
            raise ValueError(f"APGDT: every run ascends the targeted DLR loss; loss_name {self.loss_name!r} does not "
                             f"apply (APGD takes 'ce')")

    @property
    def loss_label(self) -> str:
        return "targeted dlr"  # the loss of every run (:meth:`runs`)

    def runs(self, ctx: AttackContext, x: Tensor, y: Tensor) -> list[tuple[AttackContext, Tensor]]:
        logits = ctx.logits(x)
        if logits.shape[1] < 4:
            raise ValueError("APGDT: the targeted DLR loss needs at least 4 classes")
        ranked = logits.sort(1).indices
        count = min(self.targets, logits.shape[1] - 1)
        targeted = dataclasses.replace(ctx, loss_fn=targeted_dlr_loss)
        return [(targeted, torch.stack([y, ranked[:, -(k + 2)]], 1)) for k in range(count)]
