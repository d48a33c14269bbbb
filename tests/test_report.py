"""The comparison report is rendered from metrics files only: numbers, mean ± std, control row, figures."""

import json

import pytest

from echoes.contracts.metrics import METRICS_FORMAT, MetricsFileError
from echoes.contracts.metrics import read_metrics as load_run
from echoes.contracts.records import Epoch, TrialRecord
from echoes.report.comparison import render_report
from echoes.report.figures import best_so_far
from echoes.report.stats import aggregate_model, paired_differences, t_interval, winners
from echoes.report.tables import comparison_rows

KINDS = {"SimpleRNN": "LSTM", "SimpleESN": "ESN", "MeanOfFrames": "control", "AllFrames": "control"}

DIFF = "Δ top-1 vs SimpleRNN (pt, 95 % CI)"


def metrics(model, cls, seed, acc, train_time, fit="gradient", **extra):
    return {
        "format": METRICS_FORMAT,
        "model": model,
        "class": cls,
        "kind": KINDS.get(cls, "gradient-trained"),
        "fit_method": fit,
        "split": 1,
        "seed": seed,
        "device": "cpu",
        "threads": 2,
        "accuracy_top1": acc,
        "accuracy_top5": 1.0,
        "accuracy_reversed": acc / 2,
        "accuracy_shuffled": acc / 2,
        "train_time_s": train_time,
        "time_per_epoch_s": train_time / 4,
        "time_to_convergence_s": train_time / 2,
        "convergence_epoch": 2,
        "epochs": 4,
        "inference_time_per_batch_s": 0.004,
        "inference_batch_size": 32,
        "peak_rss_mib": 1000.0,
        "training_peak_mib": 200.0,
        "peak_gpu_mib": None,
        "val_accuracy": acc,
        "best_epoch": 3,
        "machine": {"busy": False},
        "fit_info": {},
        "trainable_params": 12006,
        "total_params": 1_512_006,
        "train_clips": 120,
        "val_clips": 30,
        "val_groups": ["g04", "g06"],
        "test_clips": 60,
        "accuracy_by_group": {"g01": acc, "g02": acc},
        "accuracy_by_family": {},
        "val_accuracy_by_family": {},
        "normalisation": "global",
        "tuning": {
            "sampler": "grid",
            "space": {},
            "candidates": 1,
            "selected": {},
            "trials": [
                {
                    "number": 0,
                    "params": {},
                    "state": "complete",
                    "val_accuracy": acc,
                    "val_loss": 0.1,
                    "seconds": train_time,
                    "fit_seconds": train_time,
                }
            ],  # fmt: skip
            "time_s": train_time,
            "within_seconds": None,
        },
        "training": {"val_fraction": 0.2, "min_val_groups": 2, "patience": 15, "min_delta": 0.001},
        "params": {},
        "history": [Epoch(e, 0.2 * e, 1.0, 1_700_000_000_000 + e, val_accuracy=0.2 * e).record() for e in range(1, 5)],
        "features": {"dataset": "synthetic", "weights": "random (seed 0)", "frames_per_clip": 16, "frame_size": 112},
        "versions": {"torch": "x"},
        "classes": ["A", "B"],
        "confusion": [[25, 5], [10, 20]],
        **extra,
    }


@pytest.fixture
def runs(tmp_path):
    files = {}
    table = {
        "SimpleRNN": [("SimpleRNN", 0, 0.80, 10.0), ("SimpleRNN", 1, 0.90, 14.0)],
        "SimpleESN": [("SimpleESN", 0, 0.95, 0.5), ("SimpleESN", 1, 0.97, 0.7)],
        "MeanOfFrames": [("MeanOfFrames", 0, 0.40, 0.01), ("MeanOfFrames", 1, 0.40, 0.01)],
    }
    for name, entries in table.items():
        files[name] = []
        for cls, seed, acc, seconds in entries:
            fit = "gradient" if cls == "SimpleRNN" else "closed_form"
            path = tmp_path / name / f"seed{seed}.json"
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps(metrics(name, cls, seed, acc, seconds, fit)))
            files[name].append(path)
    return files


def test_rows_show_mean_and_std_over_seeds_with_n(runs):
    rows = {r["Model"]: r for r in comparison_rows({k: [load_run(p) for p in v] for k, v in runs.items()})}
    assert rows["SimpleRNN"]["Accuracy top-1 (%)"] == "85.0 ± 7.1 †"  # two seeds: intervals overlap, a tie
    assert rows["SimpleESN"]["Accuracy top-1 (%)"] == "96.0 ± 1.4 †"
    assert rows["MeanOfFrames (control)"]["Accuracy top-1 (%)"] == "40.0 ± 0.0"
    assert rows["SimpleESN"][DIFF] == "+11.0 [-39.8, +61.8] (n=2)"
    assert rows["SimpleRNN"][DIFF] == "reference"
    assert rows["SimpleRNN"]["Runs (n)"] == "2"
    assert rows["SimpleRNN"]["Std over runs: accuracy / conv. epoch"] == "7.1 pt / 0.0 ep"
    assert rows["SimpleESN"]["Speed-up vs SimpleRNN"] == "20.0×"
    assert rows["SimpleRNN"]["Speed-up vs SimpleRNN"] == "1.0×"
    assert rows["SimpleESN"]["Trainable params"] == "12.0 k" and rows["SimpleESN"]["Total params"] == "1.51 M"
    assert rows["SimpleESN"]["Kind (fit)"] == "ESN (ridge)" and rows["SimpleRNN"]["Kind (fit)"] == "LSTM (AdamW)"
    assert "MeanOfFrames (control)" in rows


def test_report_file_has_the_table_the_setup_and_valid_png_figures(runs, tmp_path):
    out = tmp_path / "results" / "comparison.md"
    text = render_report(runs, out, tmp_path / "results" / "figures")
    assert out.read_text() == text
    assert "| SimpleESN | ESN (ridge) | 96.0 ± 1.4 † | +11.0 [-39.8, +61.8] (n=2) |" in text
    assert "at least 2 groups and at least 20 % of the training clips" in text
    assert "SimpleRNN 1 (grid: nothing tuned)" in text and "Unequal" not in text
    assert "Set `tuning.seconds` to also give every model the same tuning time" in text
    assert "- g01 (spread 11.0 pt): SimpleRNN 85.0, SimpleESN 96.0" in text
    assert "not pretrained" in text and "T = 16" in text and "seeds 0, 1" in text
    assert "- SimpleESN: B → A (10), A → B (5)" in text
    assert "![confusion matrices](figures/confusion.png)" in text
    for name in ("accuracy_vs_time.png", "learning_curves.png", "tuning_curves.png", "confusion.png"):
        assert (tmp_path / "results" / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"(figures/{name})" in text
    # no ESN layers in these runs: no figure of empty axes, neither written nor linked
    assert not (tmp_path / "results" / "figures" / "layers.png").exists() and "layers.png" not in text


def test_model_summary_file_aggregates_its_runs(runs, tmp_path):
    summary = aggregate_model(runs["SimpleRNN"], tmp_path / "summary.json")
    assert summary["n"] == 2 and summary["mean"]["accuracy_top1"] == pytest.approx(0.85)
    assert json.loads((tmp_path / "summary.json").read_text())["runs"][1]["seed"] == 1


def test_a_metrics_file_missing_a_field_is_named(tmp_path):
    bad = metrics("m", "SimpleRNN", 0, 0.5, 1.0)
    del bad["peak_rss_mib"]
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(MetricsFileError, match=f"{path}: missing field.*peak_rss_mib"):
        load_run(path)


def test_a_metrics_file_of_another_format_is_named(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"accuracy": 0.5}))
    with pytest.raises(MetricsFileError, match=f"{path}: metrics format None"):
        load_run(path)


def test_a_failed_model_is_marked_with_its_log_and_the_report_still_renders(runs, tmp_path):
    path = tmp_path / "DeepESN" / "seed0.json"
    path.parent.mkdir()
    failure = {
        "format": METRICS_FORMAT,
        "status": "failed",
        "model": "DeepESN",
        "class": "DeepESN",
        "split": 1,
        "seed": 0,
        "error": "RuntimeError: out of memory",
        "log": "logs/train/DeepESN/split1-seed0.log",
    }
    path.write_text(json.dumps(failure))
    text = render_report({**runs, "DeepESN": [path]}, tmp_path / "comparison.md", tmp_path / "figures")
    row = next(line for line in text.splitlines() if line.startswith("| DeepESN"))
    assert "**failed**: RuntimeError: out of memory" in row and "logs/train/DeepESN/split1-seed0.log" in row
    assert "| SimpleESN | ESN (ridge) | 96.0 ± 1.4 † |" in text


def test_zero_test_clips_is_a_clear_error(temporal_order_task):
    from echoes.training.data import load_split

    features, manifest = temporal_order_task
    with pytest.raises(ValueError, match="split 2 has 0 training and 0 test clips"):
        load_split(features, manifest, split=2)


def test_the_difference_interval_is_a_paired_student_t_interval():
    rnn = [{"split": 1, "seed": s, "accuracy_top1": a} for s, a in enumerate([0.80, 0.85, 0.90])]
    esn = [{"split": 1, "seed": s, "accuracy_top1": a} for s, a in [(2, 0.95), (0, 0.90), (1, 0.93)]]
    assert paired_differences(esn, rnn) == pytest.approx([0.05, 0.10, 0.08])
    low, high = t_interval([0.05, 0.10, 0.08])
    # mean 0.0767, sd 0.02517, t(0.975, 2) = 4.3027: half width 0.06252
    assert (low, high) == pytest.approx((0.0767 - 0.06252, 0.0767 + 0.06252), abs=1e-4)
    assert t_interval([0.5]) is None


def test_a_win_is_bolded_only_outside_the_noise_of_every_other_row():
    means = {"A": 0.95, "B": 0.80, "C": 0.94}
    assert winners({"A": (0.93, 0.97), "B": (0.75, 0.85), "C": (0.90, 0.92)}, means) == ("A", set())
    assert winners({"A": (0.93, 0.97), "B": (0.75, 0.85), "C": (0.90, 0.95)}, means) == (None, {"A", "C"})
    assert winners({"A": None, "B": None, "C": None}, means) == (None, set())


def test_unequal_tuning_budgets_are_flagged(runs, tmp_path):
    path = runs["SimpleESN"][0]
    run = json.loads(path.read_text())
    run["tuning"]["candidates"] = 4
    path.write_text(json.dumps(run))
    text = render_report(runs, tmp_path / "comparison.md", tmp_path / "figures")
    assert "SimpleESN 4" in text and "**Unequal tuning budgets among the compared models**" in text


def test_with_a_tuning_time_budget_the_report_shows_what_each_model_reached_within_it(runs, tmp_path):
    for name, reached in (
        ("SimpleESN", (12, 0.9, 0.95, {"order": 1.0, "same_different": 0.9})),
        ("MeanOfFrames", (0, None, None, None)),
    ):
        for seed, path in enumerate(runs[name]):
            run = json.loads(path.read_text())
            trials, val, test, families = reached
            by_family = families and {**families, "order": seed}
            run["tuning"]["within_seconds"] = {"seconds": 30.0, "trials": trials, "spent_s": 29.0, "params": {},
                                               "val_accuracy": val, "accuracy_top1": test,
                                               "accuracy_by_family": by_family}  # fmt: skip
            path.write_text(json.dumps(run))
    for seed, path in enumerate(runs["SimpleRNN"]):  # its headline: the yardstick of the equal-time view
        run = json.loads(path.read_text())
        run["accuracy_by_family"] = {"order": 1.0 - seed, "same_different": 0.5}
        path.write_text(json.dumps(run))
    text = render_report(runs, tmp_path / "comparison.md", tmp_path / "figures")
    assert "some models tuned on until their trials had taken 30.00 s" in text
    assert (
        "| Model | Headline's trials took | Trials within the time | Validation top-1 | Test top-1 | order "
        "| Δ order | same_different | Δ same_different |"
    ) in text
    # SimpleESN's headline trial took 0.5 and 0.7 s; on same_different it is 40 points above SimpleRNN on both seeds
    assert "| SimpleESN | 600.0 ms | 12.0 | 90.0 ± 0.0 | 95.0 ± 0.0 | 50.0 ± 70.7 | +0.0" in text
    assert "| 90.0 ± 0.0 | +40.0 [+40.0, +40.0] (n=2) |" in text
    assert "| SimpleRNN | 12.00 s | 1 (the headline's) | 85.0 ± 7.1 | 85.0 ± 7.1 | 50.0 ± 70.7 | reference |" in text
    assert "| MeanOfFrames | 10.0 ms | 0.0 | none finished | none finished | – | –" in text


def test_closed_form_models_without_a_tuning_time_are_named_as_equal_trials_only(runs, tmp_path):
    path = runs["SimpleESN"][0]
    run = json.loads(path.read_text())
    run["tuning"]["within_seconds"] = {"seconds": 30.0, "trials": 3, "spent_s": 2.0, "params": {}, "val_accuracy": 0.9,
                                       "accuracy_top1": 0.9, "accuracy_by_family": {}}  # fmt: skip
    path.write_text(json.dumps(run))
    text = render_report(runs, tmp_path / "comparison.md", tmp_path / "figures")
    assert "Equal trials only (no `tuning.seconds` for them): MeanOfFrames." in text


def test_the_tuning_column_counts_the_headlines_trials_not_those_of_the_equal_time_view(runs, tmp_path):
    for path in runs["SimpleESN"]:
        run = json.loads(path.read_text())
        extra = {**run["tuning"]["trials"][0], "number": 1, "seconds": 25.0}
        run["tuning"]["trials"].append(extra)  # a trial of tuning.seconds, after the headline's one
        run["tuning"]["time_s"] = 30.0
        path.write_text(json.dumps(run))
    text = render_report(runs, tmp_path / "comparison.md", tmp_path / "figures")
    assert "1 grid points (600.0 ms) |" in text


def test_the_tuning_curve_is_the_best_validation_accuracy_so_far_at_each_trials_end():
    scored = [(2.0, 0.5, "complete"), (1.0, 0.9, "pruned"), (3.0, 0.4, "complete"), (1.0, 0.8, "complete")]
    trials = [TrialRecord(n, {}, state, accuracy, 1.0, seconds).record() for n, (seconds, accuracy, state) in
              enumerate(scored)]  # fmt: skip
    assert best_so_far(trials) == ([2.0, 3.0, 6.0, 7.0], [0.5, 0.5, 0.5, 0.8])  # a pruned trial is never the best


def test_the_table_is_also_an_html_page_with_the_same_rows(runs, tmp_path):
    render_report(runs, tmp_path / "comparison.md", tmp_path / "figures")
    page = (tmp_path / "comparison.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<tr>") == 2 * (1 + 3)  # headline and details
    for name, accuracy in (("SimpleESN", "96.0 ± 1.4 †"), ("SimpleRNN", "85.0 ± 7.1 †"), ("MeanOfFrames", "40.0")):
        assert name in page and accuracy in page


def test_learning_curves_average_runs_of_different_lengths_epoch_by_epoch():
    from echoes.report.figures import model_colours
    from echoes.report.stats import mean_and_spread

    mean, std = mean_and_spread([[50.0, 70.0, 80.0], [60.0, 80.0]])
    assert mean == [55.0, 75.0, 80.0] and std[2] == 0.0 and std[0] == pytest.approx(7.0711, abs=1e-4)
    assert model_colours(["A", "B"])["B"] == model_colours(["A", "B", "C"])["B"]  # one colour per model


def test_rows_timed_on_a_busy_machine_are_flagged(runs, tmp_path):
    path = runs["SimpleRNN"][1]
    run = json.loads(path.read_text())
    run["machine"] = {"busy": True, "load_1m_start": 9.5, "cores": 2}
    path.write_text(json.dumps(run))
    rows = {r["Model"]: r for r in comparison_rows({k: [load_run(p) for p in v] for k, v in runs.items()})}
    assert rows["SimpleRNN"]["Training time"] == "12.00 s ⚠ 1/2 busy"
    assert "⚠" not in rows["SimpleESN"]["Training time"]


def test_a_ridge_left_at_the_end_of_its_grid_is_reported(runs, tmp_path):
    run = json.loads(runs["MeanOfFrames"][0].read_text())
    run["fit_info"] = {"ridge": 3.2e8, "ridge_at_grid_edge": "upper"}
    runs["MeanOfFrames"][0].write_text(json.dumps(run))
    text = render_report(runs, tmp_path / "comparison.md", tmp_path / "figures")
    line = next(line for line in text.splitlines() if "Ridge at the end of its GCV grid" in line)
    assert line.endswith("(the score still falling there): MeanOfFrames 1/2 (upper end).")


def test_at_101_classes_the_report_stays_short_and_the_confusion_matrix_has_no_per_cell_text(tmp_path):
    import numpy as np

    from echoes.report.figures import draw_large_confusion, pyplot

    classes = [f"Class{c:03d}" for c in range(101)]
    rng = np.random.default_rng(0)
    paths = {}
    for name, cls in (("SimpleRNN", "SimpleRNN"), ("SimpleESN", "SimpleESN")):
        paths[name] = []
        for seed in (0, 1):
            confusion = (np.eye(101, dtype=int) * 30 + rng.integers(0, 2, (101, 101))).tolist()
            run = metrics(name, cls, seed, 0.7, 1.0, classes=classes, confusion=confusion)
            paths[name].append(tmp_path / f"{name}{seed}.json")
            paths[name][-1].write_text(json.dumps(run))
    text = render_report(paths, tmp_path / "comparison.md", tmp_path / "figures")
    confused = text.split("## Most confused classes")[1].splitlines()
    assert sorted(line.split(":")[0] for line in confused if line.startswith("- ")) == ["- SimpleESN", "- SimpleRNN"]
    assert all(line.count("→") == 3 for line in confused if line.startswith("- "))
    assert (tmp_path / "figures" / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    fig, ax = pyplot().subplots()
    draw_large_confusion(fig, ax, confusion)
    assert not ax.texts and len(ax.get_xticklabels()) == 11  # every tenth class index, no names, no counts
    pyplot().close(fig)


def test_each_reservoirs_records_are_averaged_over_runs_layer_by_layer(runs, tmp_path):
    text = render_report(runs, tmp_path / "comparison.md", tmp_path / "figures")
    assert "What each reservoir adds" not in text and "layers.png" not in text
    for seed, path in enumerate(runs["SimpleESN"]):
        run = json.loads(path.read_text())
        run["layers"] = [
            {"layer": 1, "accuracy": 0.8, "accuracy_up_to": 0.8, "memory_capacity": 10.0 + seed,
             "effective_spectral_radius": 0.95},
            {"layer": 2, "accuracy": 0.6 + 0.2 * seed, "accuracy_up_to": 0.9, "memory_capacity": 14.0,
             "effective_spectral_radius": 0.97},
        ]  # fmt: skip
        path.write_text(json.dumps(run))
    text = render_report(runs, tmp_path / "comparison.md", tmp_path / "figures")
    assert "| SimpleESN | 1 | 80.0 | 80.0 | 10.5 | 0.950 |" in text
    assert "| SimpleESN | 2 | 70.0 | 90.0 | 14.0 | 0.970 |" in text
    assert (tmp_path / "figures" / "layers.png").read_bytes().startswith(b"\x89PNG")


def test_accuracy_per_task_family_is_shown_when_the_runs_have_families(runs, tmp_path):
    assert "## Accuracy per task family" not in render_report(runs, tmp_path / "comparison.md", tmp_path / "f")
    for name, (order, match) in {"SimpleESN": (1.0, 0.9), "SimpleRNN": (1.0, 0.95), "MeanOfFrames": (0.5, 0.5)}.items():
        for path in runs[name]:
            run = json.loads(path.read_text())
            run["accuracy_by_family"] = {"order": order, "same_different": match}
            run["val_accuracy_by_family"] = {"order": order, "same_different": match - 0.1}
            path.write_text(json.dumps(run))
    text = render_report(runs, tmp_path / "comparison.md", tmp_path / "f")
    assert "| Model | order | Δ order | same_different | Δ same_different |" in text
    # each family's difference to SimpleRNN, paired by split and seed, with its interval
    order, same_different = "-50.0 [-50.0, -50.0] (n=2)", "-45.0 [-45.0, -45.0] (n=2)"
    assert f"| MeanOfFrames | 50.0 ± 0.0 (50.0) | {order} | 50.0 ± 0.0 (40.0) | {same_different} |" in text
    assert "| SimpleRNN | 100.0 ± 0.0 (100.0) | reference | 95.0 ± 0.0 (85.0) | reference |" in text


def test_the_task_family_section_says_how_many_test_clips_one_accuracy_rests_on(runs, tmp_path):
    for name, paths in runs.items():
        for path in paths:
            run = json.loads(path.read_text())
            run["accuracy_by_family"] = {"order": 1.0, "same_different": 0.75}
            if name != "MeanOfFrames":  # older metrics files have no counts: the others' still show
                run["test_clips_by_family"] = {"order": 40, "same_different": 20 + run["seed"]}
            path.write_text(json.dumps(run))
    section = render_report(runs, tmp_path / "comparison.md", tmp_path / "f").split("## Accuracy per task family")[1]
    sizes = "order 40 (one clip is 2.5 pt), same_different 20-21 (one clip is 4.8-5.0 pt)"
    assert f"Test clips per run: {sizes}." in section


def test_the_task_family_section_says_which_errors_went_to_another_family(runs, tmp_path):
    for name, paths in runs.items():
        for path in paths:
            run = json.loads(path.read_text())
            run["accuracy_by_family"] = {"order": 1.0, "same_different": 0.75}
            if name == "SimpleESN":  # the others are older metrics files, without the field
                run["read_as_other_family"] = {"order": 0.0, "same_different": 0.1 + 0.1 * run["seed"]}
            path.write_text(json.dumps(run))
    section = render_report(runs, tmp_path / "comparison.md", tmp_path / "f").split("## Accuracy per task family")[1]
    assert "- order: SimpleESN 0.0\n- same_different: SimpleESN 15.0\n" in section
    assert "SimpleRNN 0.0" not in section  # a model that did not record it is not shown as making no such error


def _table_headers(text: str) -> list[list[str]]:
    """The header cells of every Markdown table in ``text``."""
    lines = text.splitlines()
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line, below in zip(lines, lines[1:], strict=False)
        if line.startswith("| ") and below.startswith("|---")
    ]


def test_the_headline_has_at_most_nine_columns_and_every_measured_figure_is_still_in_the_report(runs, tmp_path):
    for path in runs["SimpleESN"] + runs["SimpleRNN"] + runs["MeanOfFrames"]:
        run = json.loads(path.read_text())
        run["accuracy_by_family"] = {"order": 1.0, "same_different": 0.75}
        path.write_text(json.dumps(run))
    text = render_report(runs, tmp_path / "comparison.md", tmp_path / "figures")
    headline, details = _table_headers(text)[:2]
    assert len(headline) <= 9 and headline[:4] == ["Model", "Kind (fit)", "Accuracy top-1 (%)", DIFF]
    assert {"order (%)", "same_different (%)", "Training time", "Trainable params"} <= set(headline)
    shown = set(headline) | set(details)
    for header in ("Validation top-1 (%)", "Accuracy top-5 (%)", "Drop reversed (pt)", "Drop shuffled (pt)",
                   "Time per epoch", "Epochs (convergence)", "Std over runs: accuracy / conv. epoch",
                   "Speed-up vs SimpleRNN", "Inference per batch", "Total params",
                   "Training memory above baseline (process RSS)", "Tuning: trials (time)"):  # fmt: skip
        assert header in shown, header
    assert "| SimpleESN | ESN (ridge) | 96.0 ± 1.4 † | +11.0 [-39.8, +61.8] (n=2) | 100.0 ± 0.0 | 75.0 ± 0.0 |" in text


def test_the_reference_is_the_simple_rnn_entry_whatever_its_name_in_both_tables(runs, tmp_path):
    for path in runs["SimpleRNN"] + runs["SimpleESN"]:
        run = json.loads(path.read_text())
        run["accuracy_by_family"] = {"order": 1.0, "same_different": 0.75}
        path.write_text(json.dumps(run))
    renamed = {("lstm" if name == "SimpleRNN" else name): paths for name, paths in runs.items()}
    text = render_report(renamed, tmp_path / "comparison.md", tmp_path / "figures")
    main = next(line for line in text.splitlines() if line.startswith("| SimpleESN | ESN"))
    family = next(line for line in text.split("## Accuracy per task family")[1].splitlines()
                  if line.startswith("| SimpleESN"))  # fmt: skip
    assert "+11.0 [-39.8, +61.8] (n=2)" in main
    assert "+0.0 [+0.0, +0.0] (n=2)" in family and "–" not in family.split("|")[3]
    assert "| lstm | 100.0 ± 0.0 | reference | 75.0 ± 0.0 | reference |" in text
