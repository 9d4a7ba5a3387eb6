"""Where a training step's time goes in fp32 and under bf16 autocast, and what bounds the bf16 speed-up.

Profiles TuneForge's training path (the code ``bench/train_throughput.py`` times: rows (a) and (d) for the
default encoder on SST-2 sentences, the fp32 and bf16 rows for SmolLM2-135M) with torch.profiler, and
sums each operator's own CPU time per step into groups: matrix products (the only work bf16 makes much
cheaper), casts (the copies autocast adds: fp32 weights and activations to bf16, bf16 gradients back to
fp32), dropout's random numbers, the optimizer, norms, fills, and the rest.

From those sums it states the bound: with weights and optimizer state in fp32 (autocast), the speed-up
is (fp32 step) / (bf16 step). To reach a goal G by cutting work that costs the same in both precisions,
that work must shrink by X = (G * bf16 - fp32) / (G - 1) ms per step; the table compares X with all the
non-matrix work of the fp32 step. Profiler overhead inflates every operator alike, so the shares matter,
not the absolute milliseconds (``bench/train_throughput.py`` has the unprofiled speeds).

Each path runs ``--rounds`` times, interleaved; each group's median counts.

Usage: python bench/bf16_breakdown.py [--skip-llm] [--rounds 2]
Writes bench/results/bf16_breakdown.{json,md}. Needs a CPU with native bf16 (AMX-BF16 or AVX512-BF16).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, write_results  # noqa: E402

GROUPS = {
    "matrix products": ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_scaled_dot_product",
                        "aten::mkldnn", "aten::_mkldnn", "aten::linear", "aten::matmul"),
    "casts": ("aten::copy_", "aten::_to_copy"),
    "dropout random numbers": ("aten::bernoulli_", "aten::random_", "aten::native_dropout"),
    "optimizer": ("aten::_fused_adam", "Optimizer.step"),
    "norms": ("aten::native_layer_norm", "aten::layer_norm", "aten::linalg_vector_norm", "aten::norm",
              "aten::rsqrt", "aten::_fused_rms_norm"),
    "fills": ("aten::fill_", "aten::zero_", "aten::zeros", "aten::empty"),
}
GOALS = {"MiniLM on SST-2": 1.5, "SmolLM2-135M": 2.0}


def group_of(op: str) -> str:
    """The group an operator's name falls in ("other" when none)."""
    for group, prefixes in GROUPS.items():
        if op.startswith(prefixes):
            return group
    return "other"


class StepProfiler:
    """A TrainerCallback that profiles steps ``first`` to ``last`` and keeps each operator's self CPU time."""

    def __init__(self, first: int, last: int):
        from torch.profiler import ProfilerActivity, profile
        from transformers import TrainerCallback

        self.first, self.last, self.ms_per_op = first, last, {}
        self.profiler = profile(activities=[ProfilerActivity.CPU])
        owner = self

        class _Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                if state.global_step == owner.first:
                    owner.profiler.__enter__()

            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step == owner.last:
                    owner.profiler.__exit__(None, None, None)
                    steps = owner.last - owner.first
                    owner.ms_per_op = {e.key: e.self_cpu_time_total / 1e3 / steps
                                       for e in owner.profiler.key_averages()}

        self.callback = _Callback()

    def groups(self) -> dict[str, float]:
        """Milliseconds per step in each group."""
        out = {group: 0.0 for group in [*GROUPS, "other"]}
        for op, ms in self.ms_per_op.items():
            out[group_of(op)] += ms
        return out


def bound(fp32: dict[str, float], bf16: dict[str, float], goal: float) -> dict:
    """The speed-up, and how much precision-independent work would have to go for ``goal``."""
    total32, total16 = sum(fp32.values()), sum(bf16.values())
    needed = max(0.0, (goal * total16 - total32) / (goal - 1))
    non_matrix = total32 - fp32["matrix products"]
    return {"fp32_ms": total32, "bf16_ms": total16, "speedup": total32 / total16, "goal": goal,
            "independent_ms_to_remove": needed, "fp32_non_matrix_ms": non_matrix,
            "share_of_non_matrix": needed / non_matrix if non_matrix else float("inf"),
            "speedup_if_matrix_products_were_free": total32 / (total16 - bf16["matrix products"])}


def medians(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Each group's median over the rounds."""
    return {group: statistics.median(r[group] for r in rounds) for group in rounds[0]}


def profile_encoder(rounds: int) -> dict[str, dict[str, float]]:
    """Groups per step for the encoder path in fp32 and bf16 (2048 SST-2 sentences, batch 32, steps 10-40)."""
    import train_throughput as tt

    examples = tt.sst2_sentences(2048, 42)
    out: dict[str, list] = {"fp32": [], "bf16": []}
    for _ in range(rounds):
        for name, precision in (("tuneforge", "fp32"), ("tuneforge_bf16", "bf16")):
            prof = StepProfiler(10, 40)
            tt.run_path(name, examples, 32, 42, callbacks=(prof.callback,))
            out[precision].append(prof.groups())
            print("encoder", precision, f"{sum(out[precision][-1].values()):.0f} ms/step profiled", flush=True)
    return {precision: medians(r) for precision, r in out.items()}


def profile_llm(rounds: int) -> dict[str, dict[str, float]]:
    """Groups per step for SmolLM2 (batch 4 x 256 tokens) in fp32 and bf16, steps 4-9."""
    import train_throughput as tt

    prepared = tt.llm_dataset(8)
    out: dict[str, list] = {"fp32": [], "bf16": []}
    for _ in range(rounds):
        for precision in ("fp32", "bf16"):
            prof = StepProfiler(4, 9)
            tt.run_llm_path(precision, prepared, 4, 42, callbacks=(prof.callback,))
            out[precision].append(prof.groups())
            print("smollm2", precision, f"{sum(out[precision][-1].values()):.0f} ms/step profiled", flush=True)
    return {precision: medians(r) for precision, r in out.items()}


def table(model: str, groups: dict[str, dict[str, float]], result: dict) -> str:
    """The markdown table of one model's groups and its bound."""
    lines = [f"| {model}: ms per step (profiled) | fp32 | bf16 | fp32 / bf16 |", "|---|---:|---:|---:|"]
    for group in groups["fp32"]:
        a, b = groups["fp32"][group], groups["bf16"][group]
        lines.append(f"| {group} | {a:.1f} | {b:.1f} | {a / b if b else float('inf'):.2f}x |")
    lines.append(f"| **step** | **{result['fp32_ms']:.1f}** | **{result['bf16_ms']:.1f}** | **{result['speedup']:.2f}x** |")
    return "\n".join(lines) + (
        f"\n\nGoal {result['goal']}x: precision-independent work would have to shrink by "
        f"{result['independent_ms_to_remove']:.0f} ms per step in both paths, "
        f"{100 * result['share_of_non_matrix']:.0f}% of the fp32 step's {result['fp32_non_matrix_ms']:.0f} ms of "
        f"non-matrix work. Even if bf16's matrix products cost nothing, the speed-up would be "
        f"{result['speedup_if_matrix_products_were_free']:.2f}x.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-llm", action="store_true", help="profile only the encoder")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved runs of each path; medians count")
    args = parser.parse_args()
    from tuneforge.precision import resolve_precision

    native = resolve_precision("auto")
    facts = machine()
    head = (f"CPU: {facts['cpu']['model']} ({', '.join(facts['cpu']['flags'])}); torch threads "
            f"{facts['torch_threads']}; auto precision here: {native.name} ({native.reason})\n\n")
    if not native.bf16:
        write_results("bf16_breakdown", {"machine": facts, "skipped": native.reason},
                      head + "Skipped: no native bf16 on this CPU, so there is no bf16 step to break down.\n")
        return
    runs = {"MiniLM on SST-2": profile_encoder(args.rounds)}
    if not args.skip_llm:
        runs["SmolLM2-135M"] = profile_llm(args.rounds)
    results = {model: bound(groups["fp32"], groups["bf16"], GOALS[model]) for model, groups in runs.items()}
    text = head + "\n".join(table(model, runs[model], results[model]) for model in runs) + (
        f"\nMedian of {args.rounds} interleaved rounds per group. Operators' own CPU time under torch.profiler (steps 10-40 of the encoder at batch 32, steps 4-9 of "
        "SmolLM2 at 4 x 256 tokens), the paths of bench/train_throughput.py rows (a), (d) and the SmolLM2 fp32 "
        "and bf16 rows. Casts, fills and the rest include the work autocast adds in bf16.\n")
    write_results("bf16_breakdown", {"machine": facts, "auto_precision": native.__dict__, "groups": runs,
                                     "bounds": results}, text)


if __name__ == "__main__":
    main()
