"""Training algorithms: one small class each, with its hyperparameters beside it (as in DomainBed).

An algorithm turns per-environment logits and labels into the objective to
minimise at a step.  Every algorithm shares the base hyperparameters; each
adds its own.  Register a new one with ``@register``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import BadUsage

#: hyperparameters every algorithm has
BASE_HPARAMS = {
    "lr": 1e-3,            # Adam learning rate (the study)
    "l2": 1e-3,            # weight of ||w||^2 (the study's "l2 weight")
    "steps": 500,          # full-batch steps (= epochs)
    "batch_size": 0,       # 0: full batch, as in the IRM paper; else examples per environment per step
    "head": "linear",      # linear (the study) or mlp
    "hidden": 256,         # mlp width
    "scale": "none",       # none or standardize (features, with statistics of the training records)
}

ALGORITHMS: dict[str, type["Algorithm"]] = {}


def register(cls):
    ALGORITHMS[cls.name] = cls
    return cls


def get(name: str) -> type["Algorithm"]:
    if name not in ALGORITHMS:
        raise BadUsage(f"unknown method {name!r}; choose one of: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]


def risk(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Binary: one logit, BCE (the study's sigmoid output). More classes: cross-entropy."""
    if logits.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(logits[:, 0], y.float())
    return F.cross_entropy(logits, y)


class Algorithm:
    name = "?"
    HPARAMS: dict = {}
    about = ""

    def __init__(self, hparams: dict | None = None):
        self.hparams = self.defaults()
        for key, value in (hparams or {}).items():
            if key not in self.hparams:
                raise BadUsage(f"{self.name} has no hyperparameter {key!r}; it has: {', '.join(self.hparams)}")
            self.hparams[key] = type(self.hparams[key])(value) if self.hparams[key] is not None else value
        self.state: dict = {}

    @classmethod
    def defaults(cls) -> dict:
        return {**BASE_HPARAMS, **cls.HPARAMS}

    def penalty_on(self, step: int) -> bool:
        """Whether the algorithm's own objective is in force (after any warm-up)."""
        return True

    @property
    def select_from(self) -> int:
        """The first step whose checkpoint counts as this method's model (warm-up steps are plain ERM)."""
        return 0

    def objective(self, env_logits: list[torch.Tensor], env_y: list[torch.Tensor], step: int):
        """Returns (loss to minimise before l2, penalty value for the log, penalty weight)."""
        raise NotImplementedError

    def validation_objective(self, env_logits: list[torch.Tensor], env_y: list[torch.Tensor]) -> float:
        """The method's own goal measured on held-out records of the training environments (lower is
        better): what ``--select val`` minimises.  ERM: the mean risk."""
        with torch.no_grad():
            return float(torch.stack([risk(lg, y) for lg, y in zip(env_logits, env_y)]).mean())


@register
class ERM(Algorithm):
    name = "erm"
    about = "empirical risk minimisation: the mean of the environments' risks"

    def objective(self, env_logits, env_y, step):
        nll = torch.stack([risk(lg, y) for lg, y in zip(env_logits, env_y)]).mean()
        return nll, torch.zeros(()), 0.0


def irm_penalty(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """IRMv1: the squared gradient of the environment's risk w.r.t. a fixed dummy scale s = 1 of the logits."""
    scale = torch.ones((), requires_grad=True, device=logits.device)
    loss = risk(logits * scale, y)
    (grad,) = torch.autograd.grad(loss, [scale], create_graph=True)
    return grad.pow(2)


class _Annealed(Algorithm):
    """A penalty with weight 1 for ``anneal_steps``, then ``penalty_weight``; the loss rescaled when > 1."""

    HPARAMS = {"penalty_weight": 1e4, "anneal_steps": 100}

    def weight(self, step: int) -> float:
        return float(self.hparams["penalty_weight"]) if step >= self.hparams["anneal_steps"] else 1.0

    def penalty_on(self, step):
        return step >= self.hparams["anneal_steps"]

    @property
    def select_from(self):
        return int(self.hparams["anneal_steps"])

    def penalty(self, env_logits, env_y, risks) -> torch.Tensor:
        raise NotImplementedError

    def validation_objective(self, env_logits, env_y):
        """Mean held-out risk + the full penalty weight x the held-out penalty."""
        with torch.enable_grad():
            logits = [lg.detach() for lg in env_logits]
            risks = [risk(lg, y) for lg, y in zip(logits, env_y)]
            value = torch.stack(risks).mean() + self.hparams["penalty_weight"] * self.penalty(logits, env_y, risks)
        return float(value.detach())

    def objective(self, env_logits, env_y, step):
        risks = [risk(lg, y) for lg, y in zip(env_logits, env_y)]
        nll = torch.stack(risks).mean()
        pen = self.penalty(env_logits, env_y, risks)
        w = self.weight(step)
        loss = nll + w * pen
        if w > 1.0:
            loss = loss / w          # keep gradients in a sane range (IRM paper)
        return loss, pen.detach(), w


@register
class IRM(_Annealed):
    name = "irm"
    about = "IRMv1 (Arjovsky et al. 2019): mean risk + weight x mean squared gradient w.r.t. a dummy scale"

    def penalty(self, env_logits, env_y, risks):
        return torch.stack([irm_penalty(lg, y) for lg, y in zip(env_logits, env_y)]).mean()


@register
class VREx(_Annealed):
    name = "vrex"
    about = "V-REx (Krueger et al. 2021): mean risk + weight x variance of the environments' risks"
    HPARAMS = {"penalty_weight": 1e3, "anneal_steps": 100}

    def penalty(self, env_logits, env_y, risks):
        return torch.stack(risks).var(unbiased=False)


@register
class GroupDRO(Algorithm):
    name = "groupdro"
    about = "Group DRO (Sagawa et al. 2020): exponentially re-weights the worst environments"
    HPARAMS = {"eta": 1e-2}

    def objective(self, env_logits, env_y, step):
        risks = torch.stack([risk(lg, y) for lg, y in zip(env_logits, env_y)])
        q = self.state.get("q")
        if q is None:
            q = torch.ones(len(risks), device=risks.device) / len(risks)
        q = q * torch.exp(self.hparams["eta"] * risks.detach())
        q = q / q.sum()
        self.state["q"] = q
        return (q * risks).sum(), risks.max().detach(), 0.0

    def validation_objective(self, env_logits, env_y):
        """The worst held-out environment's risk."""
        with torch.no_grad():
            return float(max(risk(lg, y) for lg, y in zip(env_logits, env_y)))
