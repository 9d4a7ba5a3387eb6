"""Reading a job's progress from what its process prints."""

from __future__ import annotations

from tuneforge.ui.progress import parse_console, readable_log


def test_the_latest_progress_bar_gives_steps_eta_and_loss():
    printed = ("INFO     data: 12 train\n"
               "  0%|          | 0/10 [00:00<?, ?it/s]\r"
               " 40%|####      | 4/10 [00:02<00:03,  2.00it/s, loss=0.6931]\r"
               " 70%|#######   | 7/10 [00:03<00:01,  2.10it/s, loss=0.5012]\r")
    facts = parse_console(printed)
    assert (facts["step"], facts["total"], facts["percent"]) == (7, 10, 70.0)
    assert (facts["eta"], facts["elapsed"], facts["loss"]) == ("00:01", "00:03", 0.5012)
    assert facts["error"] is None


def test_evaluations_trials_comparisons_and_errors():
    printed = ("INFO     evaluation at step 6 (epoch 2.00): accuracy 0.5000, loss 0.6900\n"
               "INFO     compare 2/3: some-method (share 20s of the 60s budget)\n"
               "INFO     trial 0 complete 0.5000; best so far 0.5000 (trial 0)\n"
               "INFO     trial 1 pruned\n"
               "INFO     trial 1 pruned 0.2500\n"
               "error: data.train: file not found\n")
    facts = parse_console(printed)
    assert facts["evaluation"] == {"step": 6, "epoch": 2.0, "scores": "accuracy 0.5000, loss 0.6900"}
    assert facts["compare"] == {"number": 2, "of": 3, "method": "some-method"}
    assert facts["trials"] == [{"trial": 0, "state": "complete", "value": 0.5},
                               {"trial": 1, "state": "pruned", "value": 0.25}]
    assert facts["error"] == "data.train: file not found"


def test_the_readable_log_keeps_one_line_per_bar():
    printed = "start\n 10%|#| 1/10 [00:01<00:09]\r 20%|##| 2/10 [00:02<00:08]\rdone\n"
    assert readable_log(printed) == "start\n 20%|##| 2/10 [00:02<00:08]\ndone"


def test_other_bars_are_an_activity_not_the_training_steps():
    facts = parse_console(" 50%|#####     | 3/6 [00:01<00:01,  2.0it/s, loss=0.7]\r"
                          "pairs: 100%|##########| 40/40 [00:00<00:00, 99it/s]\n")
    assert (facts["step"], facts["total"], facts["bar"]) == (3, 6, "pairs: 40/40")
