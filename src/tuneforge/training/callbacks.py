"""Trainer callbacks of our own (Trainer already has early stopping, logging and tracking)."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("tuneforge")


def time_limit_callback(seconds: float):
    """Stop training gracefully once ``seconds`` of training have passed: the best checkpoint is still
    restored and evaluated, so a time budget never loses the run.

    Example:
        >>> train_run(cfg, callbacks=[time_limit_callback(600)])
    """
    from transformers import TrainerCallback

    class TimeLimit(TrainerCallback):
        started = None
        hit = False

        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.monotonic()

        def on_step_end(self, args, state, control, **kwargs):
            if self.started is not None and time.monotonic() - self.started > seconds and not self.hit:
                self.hit = True
                log.info("time limit of %.0fs reached after %d steps: stopping, then evaluating", seconds,
                         state.global_step)
                control.should_training_stop = True
                control.should_evaluate = True
                control.should_save = True

    return TimeLimit()


def patient_early_stopping(patience: int):
    """Trainer's early stopping, except that it never fires before the metric first moves: evaluations
    that repeat the first one (a multi-label micro-F1 still at 0 while the sigmoid outputs climb towards
    the threshold) do not count against the patience.

    Example:
        >>> Trainer(..., callbacks=[patient_early_stopping(2)])
    """
    from transformers import EarlyStoppingCallback

    class PatientEarlyStopping(EarlyStoppingCallback):
        first: float | None = None
        moved = False

        def check_metric_value(self, args, state, control, metric_value):
            if self.first is None:
                self.first = metric_value
            self.moved = self.moved or metric_value != self.first
            if self.moved:
                super().check_metric_value(args, state, control, metric_value)
            else:
                log.debug("%s has not moved from %.4f yet: early stopping waits for it", args.metric_for_best_model,
                         metric_value)

    return PatientEarlyStopping(early_stopping_patience=patience)


def quiet_progress():
    """Trainer's progress bar without its dictionaries: the bar shows the latest loss, each evaluation is one
    ``tuneforge`` log line (so it reaches the console and ``train.log``), and evaluation draws no bar of its
    own. The raw dictionaries go to the log at DEBUG level (``tuneforge --verbose`` shows them).

    Example:
        >>> trainer.remove_callback(ProgressCallback); trainer.add_callback(quiet_progress())
    """
    from transformers.trainer_callback import ProgressCallback

    class QuietProgress(ProgressCallback):
        def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
            """No bar per evaluation: one line when it ends."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = {k: v for k, v in (logs or {}).items() if k != "total_flos"}
            log.debug("step %d: %s", state.global_step, logs)
            if self.training_bar is not None and isinstance(logs.get("loss"), (int, float)):
                self.training_bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            scores = {k.removeprefix("eval_"): v for k, v in (metrics or {}).items()
                      if isinstance(v, (int, float)) and not k.endswith(("runtime", "per_second")) and k != "epoch"}
            if scores and state.is_world_process_zero:
                shown = ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
                if self.training_bar is not None:
                    self.training_bar.clear()
                log.info("evaluation at step %d (epoch %.2f): %s", state.global_step, state.epoch or 0.0, shown)
                if self.training_bar is not None:
                    self.training_bar.refresh()

    return QuietProgress()


def use_quiet_progress(trainer) -> None:
    """Swap Trainer's progress callback (bar + printed dictionaries) for ``quiet_progress``."""
    from transformers.trainer_callback import ProgressCallback

    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(quiet_progress())


def anchor_to_start(weight: float):
    """A callback pulling the trainable weights back towards where training started, after each optimizer
    step: ``w -= lr * weight * (w - w0)`` (the L2-SP penalty ``weight/2 * |w - w0|^2``, decoupled from
    Adam's scaling as AdamW decouples weight decay). Continual fine-tuning uses it against forgetting."""
    import torch
    from transformers import TrainerCallback

    class AnchorToStart(TrainerCallback):
        start: dict = {}

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self.start = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

        def on_step_end(self, args, state, control, model=None, lr_scheduler=None, **kwargs):
            lr = lr_scheduler.get_last_lr()[0] if lr_scheduler is not None else args.learning_rate
            with torch.no_grad():
                for n, p in model.named_parameters():
                    if n in self.start:
                        p.add_(self.start[n] - p, alpha=lr * weight)

    return AnchorToStart()
