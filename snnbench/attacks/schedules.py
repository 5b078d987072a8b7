"""Step-size checkpoints of APGD (Croce & Hein 2020), also used by SA-PGD."""
from __future__ import annotations


def apgd_checkpoints(steps: int) -> list[int]:
    """Iterations after which APGD reconsiders its step size.

    Fractions of the budget ``p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)``,
    each turned into ``⌈p_j·steps⌉``; for 100 steps: 22, 41, 57, 70, 80, 87, 93, 99. Computed in
    hundredths so that no rounding moves a checkpoint.
    """
    points, previous, current = [], 0, 22
    while current <= 100:
        iteration = -(-current * steps // 100)
        if 0 < iteration <= steps and iteration not in points:
            points.append(iteration)
        previous, current = current, current + max(current - previous - 3, 6)
    return points
