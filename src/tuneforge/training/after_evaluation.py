"""What a run does between evaluation and the bundle: the robustness table (``eval.robustness``) and
the reference profile the server's drift gauges compare traffic with (text classifiers)."""

from __future__ import annotations

import json
import logging

log = logging.getLogger("tuneforge")


def after_evaluation(cfg, prep, ev, save_model: bool = True) -> dict[str, str]:
    """Add the robustness table to ``ev.metrics`` when asked; return the extra bundle files (name -> text)."""
    if cfg.eval.robustness:
        from ..evaluation.robustness import robustness

        ev.metrics["robustness"] = robustness(ev.predictor, ev.examples, ev.metrics, ev.predictions, prep.model_path)
    if not save_model:
        return {}
    from ..monitoring.profile import PROFILE_FILE, build_profile

    profile = build_profile(ev.predictor, prep.splits.train, ev.examples, ev.predictions, cfg.train.seed)
    if profile is None:
        return {}
    log.debug("reference profile: %d embeddings, MMD threshold %.4g", len(profile["embeddings"]),
              profile["mmd_threshold"])
    return {PROFILE_FILE: json.dumps(profile, separators=(",", ":"))}
