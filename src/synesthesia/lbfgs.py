"""L-BFGS minimisation of a smooth objective over a float64 torch vector, with a backtracking line search."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch

    Objective = Callable[[torch.Tensor], tuple[float, torch.Tensor]]

_HISTORY = 10
_ARMIJO = 1e-4
_MAX_HALVINGS = 20


def minimize(objective: Objective, start: torch.Tensor, tol: float, max_iter: int, rounding: float
             ) -> tuple[torch.Tensor, int, bool]:
    """Minimise ``objective`` (point -> value, gradient) from ``start``; stops when max |gradient| <= tol.

    ``rounding`` is the relative rounding of the objective's value (see
    :func:`_sufficient_decrease`). Returns the point, the iterations taken and
    whether the tolerance was met. The unit step is tried first: it suits
    objectives preconditioned to a curvature near 1.
    """
    point = start
    value, gradient = objective(point)
    steps: list = []
    for iteration in range(max_iter):
        if float(gradient.abs().max()) <= tol:
            return point, iteration, True
        direction = -_two_loop(gradient, steps)
        slope = float(gradient @ direction)
        if slope >= 0:
            steps.clear()
            direction, slope = -gradient, -float(gradient @ gradient)
        step = 1.0
        for _ in range(_MAX_HALVINGS):
            candidate = point + step * direction
            candidate_value, candidate_gradient = objective(candidate)
            if _sufficient_decrease(value, slope, step, candidate_value, float(candidate_gradient @ direction),
                                   rounding):
                break
            step /= 2
        else:
            return point, iteration, False
        change, gradient_change = candidate - point, candidate_gradient - gradient
        if float(change @ gradient_change) > 0:
            steps.append((change, gradient_change))
            del steps[:-_HISTORY]
        point, value, gradient = candidate, candidate_value, candidate_gradient
    return point, max_iter, float(gradient.abs().max()) <= tol


def _sufficient_decrease(value: float, slope: float, step: float, new_value: float, new_slope: float,
                        rounding: float) -> bool:
    """Armijo's condition, or Hager and Zhang's approximate Wolfe condition where it cannot be resolved.

    Near the optimum the decrease Armijo asks for falls below the rounding of the
    value (``rounding``, relative); the slope along the step is still exact enough
    to say whether the step overshot the minimum along the line.
    """
    if new_value <= value + _ARMIJO * step * slope:
        return True
    within_rounding = new_value <= value + rounding * abs(value)
    return within_rounding and new_slope <= (1 - 2 * _ARMIJO) * -slope


def _two_loop(gradient: torch.Tensor, steps: list) -> torch.Tensor:
    """The L-BFGS inverse-Hessian approximation, from the ``(change, gradient change)`` steps, times ``gradient``."""
    direction = gradient.clone()
    coefficients = []
    for change, gradient_change in reversed(steps):
        rho = 1.0 / float(change @ gradient_change)
        coefficient = rho * float(change @ direction)
        direction -= coefficient * gradient_change
        coefficients.append((rho, coefficient))
    if steps:
        change, gradient_change = steps[-1]
        direction *= float(change @ gradient_change) / float(gradient_change @ gradient_change)
    for (change, gradient_change), (rho, coefficient) in zip(steps, reversed(coefficients)):
        direction += (coefficient - rho * float(gradient_change @ direction)) * change
    return direction
