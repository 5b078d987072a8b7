"""Step-size checkpoints of APGD (Croce & Hein 2020), also used by SA-PGD."""
from __future__ import annotations


def apgd_checkpoints(steps: int) -> list[int]:
    """Iterations after which APGD (and SA-PGD) reconsider their step size.

    The first checkpoint comes after 22% of the budget; each later interval is 3% of the budget shorter
    than the one before, but never shorter than 6%. Like the reference implementations, percentages are
    floored to whole iterations (at least one): for 100 steps 22, 41, 57, 70, 80, 87, 93, 99; for 50 steps
    11, 21, 30, 38, 45.
    """
    interval = max(int(0.22 * steps), 1)
    shrink, shortest = max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    points, at = [], interval
    while at <= steps:
        points.append(at)
        interval = max(interval - shrink, shortest)
        at += interval
    return points
