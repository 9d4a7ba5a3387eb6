"""Gradient clipping folded into fused AdamW: one pass over every gradient fewer per step.

Trainer clips by multiplying every gradient by ``min(1, max_grad_norm / norm)`` before the optimizer
step, a pass that reads and writes all the gradients (about 3% of a step of the default encoder on
SST-2). Fused AdamW already divides each gradient by its ``grad_scale`` inside its one kernel (the hook
PyTorch's GradScaler uses); handing it ``max(1, norm / max_grad_norm)`` instead gives the same update
without that pass, up to float rounding. Elsewhere (another optimizer, several processes, DeepSpeed)
Trainer clips as it always does.

Example:
    >>> trainer = fused_clipping(Trainer)(model=model, args=args, ...)  # args.optim="adamw_torch_fused"
"""

from __future__ import annotations


def _fused_adam(optimizer):
    """The torch Adam/AdamW inside ``optimizer`` (accelerate wraps it) when it runs fused, else None."""
    import torch

    inner = getattr(optimizer, "optimizer", optimizer)
    if isinstance(inner, (torch.optim.Adam, torch.optim.AdamW)) and inner.defaults.get("fused"):
        return inner
    return None


def fold_clipping(parameters, max_norm: float, optimizer):
    """The total L2 norm of the gradients of ``parameters``; sets the fused ``optimizer``'s ``grad_scale``
    so that its next step applies them clipped to ``max_norm``, as ``clip_grad_norm_`` would have."""
    import torch

    grads = [p.grad for p in parameters if p.grad is not None]
    norm = torch.nn.utils.get_total_norm(grads, 2.0, foreach=True)
    optimizer.grad_scale = torch.clamp((norm + 1e-6) / max_norm, min=1.0)  # clip_grad_norm_'s 1e-6
    return norm


def fused_clipping(trainer_class):
    """``trainer_class`` clipping through fused AdamW's ``grad_scale`` where that applies (module docstring)."""
    from accelerate.utils import DistributedType

    class FusedClipping(trainer_class):
        def _clip_grad_norm(self, model):
            optimizer = _fused_adam(self.optimizer)
            if optimizer is None or self.accelerator.distributed_type != DistributedType.NO:
                return super()._clip_grad_norm(model)
            return fold_clipping(model.parameters(), self.args.max_grad_norm, optimizer)

    return FusedClipping
