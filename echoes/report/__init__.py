"""The report: ``results/comparison.md``, its HTML table and figures, and the sweeps' pages.

Every number comes from a ``metrics.json`` written by a training job; nothing is typed in. The rooms:

- :mod:`echoes.report.stats`: summaries over runs, paired intervals, winners (no formatting);
- :mod:`echoes.report.tables`: one column spec that yields the Markdown and the HTML table;
- :mod:`echoes.report.figures`: the figures, over one shared preamble;
- :mod:`echoes.report.comparison`: ``comparison.md`` (the stage entry point, :func:`render_report`);
- :mod:`echoes.report.sweeps`: one page per sweep, and the frontier figure across them.
"""
