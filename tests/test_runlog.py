"""Snakemake's run log read back: job spans, overlap and stage times, from a log in its real format."""

from echoes.planning.runlog import job_spans, most_at_once, stage_times

LOG = """Select jobs to execute...
Execute 2 jobs...

[Thu Dec  3 23:22:10 2026]
localrule train_model:
    input: data/synthetic/features.h5
    log: logs/train/AllFrames/split1-seed1.log
    jobid: 11
    wildcards: model=AllFrames, split=1, seed=1
    threads: 4
    resources: tmpdir=/tmp, gpu=0, cores_per_cpu=4
[Thu Dec  3 23:22:10 2026]
rule train_model:
    input: data/synthetic/features.h5
    jobid: 12
    wildcards: model=SimpleRNN, split=1, seed=0
    threads: 4
[Thu Dec  3 23:22:18 2026]
Finished jobid: 11 (Rule: train_model)
1 of 3 steps (33%) done
Execute 1 jobs...

[Thu Dec  3 23:22:18 2026]
localrule train_model:
    jobid: 13
    wildcards: model=DeepESN, split=1, seed=0
[Thu Dec  3 23:22:40 2026]
Finished jobid: 12 (Rule: train_model)
[Thu Dec  3 23:22:41 2026]
Finished jobid: 13 (Rule: train_model)
[Thu Dec  3 23:22:41 2026]
localrule report:
    jobid: 1
"""


def test_each_job_is_read_with_its_rule_wildcards_start_and_end():
    spans = job_spans(LOG)
    assert [(s.jobid, s.rule, s.wildcards.split(",")[0], s.seconds) for s in spans] == [
        (11, "train_model", "model=AllFrames", 8.0),
        (12, "train_model", "model=SimpleRNN", 30.0),
        (13, "train_model", "model=DeepESN", 23.0),
        (1, "report", "", None),  # started, never finished
    ]


def test_overlap_is_judged_by_the_order_of_the_lines_not_the_one_second_clock():
    spans = job_spans(LOG)
    assert most_at_once(spans, "train_model") == 2  # 11 ends before 13 starts, in the same second
    assert most_at_once(spans, "report") == 1


def test_stage_times_sum_job_seconds_and_span_the_wall_clock():
    assert stage_times(job_spans(LOG)) == {"train_model": {"jobs": 3, "job_seconds": 61.0, "wall_seconds": 31.0}}
