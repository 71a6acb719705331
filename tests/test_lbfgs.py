"""The L-BFGS minimiser on problems with known minima."""

import torch

from synesthesia.lbfgs import minimize


def quadratic(curvatures: torch.Tensor, minimum: torch.Tensor):
    def objective(point: torch.Tensor) -> tuple[float, torch.Tensor]:
        offset = point - minimum
        return 0.5 * float((curvatures * offset * offset).sum()), curvatures * offset

    return objective


def test_a_preconditioned_quadratic_reaches_its_minimum_in_a_few_iterations():
    # Curvatures within a factor 2 of 1, as the logistic probe's preconditioning leaves them.
    curvatures = torch.logspace(-0.3, 0.3, 20, dtype=torch.float64)
    minimum = torch.linspace(-3, 3, 20, dtype=torch.float64)
    point, iterations, converged = minimize(quadratic(curvatures, minimum), torch.zeros(20, dtype=torch.float64),
                                            tol=1e-9, max_iter=500, rounding=1e-12)
    assert converged and 0 < iterations < 30
    assert float((curvatures * (point - minimum)).abs().max()) <= 1e-9
    torch.testing.assert_close(point, minimum, atol=1e-6, rtol=0)


def test_a_start_at_the_minimum_takes_no_step_and_a_spent_budget_says_so():
    curvatures, minimum = torch.ones(3, dtype=torch.float64), torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    point, iterations, converged = minimize(quadratic(curvatures, minimum), minimum.clone(), 1e-12, 10, 1e-12)
    assert (iterations, converged) == (0, True) and torch.equal(point, minimum)
    far = torch.logspace(-3, 3, 50, dtype=torch.float64)
    _, iterations, converged = minimize(quadratic(far, torch.ones(50, dtype=torch.float64)),
                                        torch.zeros(50, dtype=torch.float64), 1e-12, 2, 1e-12)
    assert (iterations, converged) == (2, False)
