"""Non-finite steps: skipped, counted and logged; a run that keeps producing them stops.

A NaN or inf loss or gradient norm means the update would poison the weights. Such a step is not
taken (with fp16 the GradScaler also lowers its scale, which is how it finds a scale that fits), the
run counts it and logs it, and after ``limit`` such steps in a row it stops with a message: a loss
that stays non-finite does not recover by itself. The weights are checked before every checkpoint,
so a non-finite model is never written over the good ones.
"""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from garimpo.core import ArtifactError

log = logging.getLogger(__name__)


class NonFiniteGuard:
    """Counts skipped steps (``skipped`` in total, ``in_row`` in a row); stops after ``limit`` in a row."""

    def __init__(self, limit: int, skipped: int = 0) -> None:
        self.limit, self.skipped, self.in_row = limit, skipped, 0
        self.last: tuple[int, float, float] = (0, math.nan, math.nan)  # the last skipped step

    def allow(self, step: int, loss: float, grad_norm: float) -> bool:
        """True when the step may be taken; False (counted, logged) when it must be skipped."""
        if math.isfinite(loss) and math.isfinite(grad_norm):
            self.in_row = 0
            return True
        self.skipped += 1
        self.in_row += 1
        log.warning(
            "step %d skipped: loss %s, gradient norm %s (%d in a row, %d in this run)",
            step + 1, loss, grad_norm, self.in_row, self.skipped,
        )  # fmt: skip
        self.last = (step, loss, grad_norm)
        return False

    def stop_if_stuck(self) -> None:
        """Raise once ``limit`` steps in a row were skipped (call after logging the last one)."""
        if self.in_row >= self.limit:
            step, loss, grad_norm = self.last
            raise ArtifactError(
                f"stopped at step {step + 1}: {self.in_row} steps in a row had a non-finite loss or "
                f"gradient norm (last: loss {loss}, gradient norm {grad_norm}); the checkpoints kept are "
                "finite. Lower the learning rate, check the data, or train in bf16/fp32 instead of fp16"
            )


def check_finite_weights(model: nn.Module, step: int) -> None:
    """Raise instead of letting a checkpoint hold NaN or inf weights."""
    bad = [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    if bad:
        raise ArtifactError(
            f"step {step}: {len(bad)} weight tensor(s) are not finite (first: {bad[0]}); "
            "no checkpoint was written, the previous ones are intact"
        )
