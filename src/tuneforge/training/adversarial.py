"""Adversarial training on the word embeddings (``train.adversarial``): each training step adds a
small worst-case perturbation to the embedding outputs of the batch and trains on it too.

- ``fgm`` (Miyato et al. 2017): one step of size ``epsilon`` along the normalised gradient; the
  parameters get the clean and the adversarial gradient.
- ``pgd`` (Madry et al. 2018): ``steps`` ascent steps of ``step_size``, each projected back into the
  ``epsilon`` ball; the parameters get the clean gradient and the last step's.
- ``freelb`` (Zhu et al. 2020): ``steps`` ascent steps from the clean embeddings; the parameters get
  the mean of every step's gradient.

Perturbations are per example (L2 norm over the positions of its real tokens; padding is never
perturbed). They are applied by a forward hook on the model's input-embedding module, so every method
trained by Trainer takes part, including those whose embeddings are frozen (LoRA, adapters, BitFit):
the gradient reaches the perturbation through the frozen weights. Trainer's own step (loss scaling,
accumulation, autocast) runs unchanged around it.

Example:
    >>> trainer_class = adversarial_trainer(Trainer, AdversarialConfig(method="fgm", epsilon=1.0))
"""

from __future__ import annotations

import logging

log = logging.getLogger("tuneforge")


class EmbeddingNoise:
    """A forward hook that adds ``delta`` (per example, padding masked) to an embedding module's output
    while ``active``; the delta is a leaf tensor, so backward fills ``delta.grad``."""

    def __init__(self, module) -> None:
        self.active = False
        self.delta = None
        self.mask = None
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, module, args, output):
        if not self.active:
            return None
        import torch

        if self.delta is None or self.delta.shape != output.shape:
            self.delta = torch.zeros(output.shape, dtype=torch.float32, device=output.device, requires_grad=True)
        delta = self.delta if self.mask is None else self.delta * self.mask
        return output + delta.to(output.dtype)

    def start(self, inputs) -> None:
        """Perturb from here on, from zero, with the padding mask of ``inputs``."""
        mask = inputs.get("attention_mask")
        self.mask = None if mask is None else mask.unsqueeze(-1).float()
        self.delta = None
        self.active = True

    def set(self, delta, needs_grad: bool) -> None:
        """Use ``delta`` (detached) from the next forward pass on."""
        self.delta = delta.detach().requires_grad_(needs_grad)

    def stop(self) -> None:
        """Leave the embeddings alone again."""
        self.active, self.delta, self.mask = False, None, None


def _per_example_norm(tensor):
    return tensor.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (tensor.dim() - 1)))


def ascend(delta, grad, step_size: float, epsilon: float | None):
    """One normalised gradient step on ``delta``, projected into the per-example ``epsilon`` L2 ball."""
    moved = delta.detach() + step_size * grad / _per_example_norm(grad)
    if epsilon is None:
        return moved
    return moved * (epsilon / _per_example_norm(moved)).clamp(max=1.0)


def adversarial_trainer(base, settings):
    """A subclass of the Trainer class ``base`` whose training step adds ``settings``' adversarial
    perturbation (``method``, ``epsilon``, ``steps``, ``step_size``)."""
    import torch

    from ..errors import ConfigError

    step_size = settings.step_size or (settings.epsilon if settings.method == "fgm"
                                       else 2.0 * settings.epsilon / settings.steps)

    class AdversarialTrainer(base):
        def _noise(self, model) -> EmbeddingNoise:
            if getattr(self, "_embedding_noise", None) is None:
                embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
                if embeddings is None:
                    raise ConfigError("train.adversarial perturbs word embeddings; this model has no input "
                                      "embedding layer (image models, for example)")
                self._embedding_noise = EmbeddingNoise(embeddings)
            return self._embedding_noise

        def _delta_grad(self, model, inputs, noise):
            """The gradient of the loss with respect to the current delta, parameters untouched."""
            with self.compute_loss_context_manager():
                loss = self.compute_loss(model, self._prepare_inputs(inputs))
            return torch.autograd.grad(loss, noise.delta)[0]

        def training_step(self, model, inputs, num_items_in_batch=None):
            noise = self._noise(model)
            noise.start(inputs)
            try:
                if settings.method == "freelb":
                    return self._freelb_step(model, inputs, num_items_in_batch, noise)
                loss = super().training_step(model, inputs, num_items_in_batch)  # clean; fills delta.grad
                grad = noise.delta.grad
                if grad is None:
                    raise ConfigError("train.adversarial: no gradient reached the embeddings; this method's model "
                                      "cannot be trained adversarially")
                delta = ascend(noise.delta, grad, step_size, settings.epsilon)
                for _ in range(settings.steps - 1 if settings.method == "pgd" else 0):
                    noise.set(delta, needs_grad=True)
                    delta = ascend(delta, self._delta_grad(model, inputs, noise), step_size, settings.epsilon)
                noise.set(delta, needs_grad=False)
                super().training_step(model, inputs, num_items_in_batch)  # adversarial; gradients add up
                return loss
            finally:
                noise.stop()

        def _freelb_step(self, model, inputs, num_items_in_batch, noise):
            params = [p for p in model.parameters() if p.requires_grad]
            before = [None if p.grad is None else p.grad.detach().clone() for p in params]
            losses = []
            for _ in range(settings.steps):
                losses.append(super().training_step(model, inputs, num_items_in_batch))
                if noise.delta.grad is None:
                    raise ConfigError("train.adversarial: no gradient reached the embeddings; this method's model "
                                      "cannot be trained adversarially")
                noise.set(ascend(noise.delta, noise.delta.grad, step_size, settings.epsilon), needs_grad=True)
            with torch.no_grad():  # the mean of the steps' gradients, on top of what was accumulated before
                for p, old in zip(params, before):
                    if p.grad is not None:
                        p.grad.copy_(p.grad / settings.steps if old is None else old + (p.grad - old) / settings.steps)
            return torch.stack(losses).mean()

    return AdversarialTrainer


def describe(settings) -> str:
    """One line for the run log."""
    extra = "" if settings.method == "fgm" else f", {settings.steps} steps"
    return f"adversarial training: {settings.method}, epsilon {settings.epsilon:g}{extra}"
