"""The workflow's planning, run while Snakemake parses and after it ran: the config checked against the
schema (config), sweeps expanded into training jobs (sweeps), threads and cores per job (scheduling),
the package modules each rule's script imports, for caching (codegraph), and a finished run's jobs
read back from Snakemake's log (runlog). Nothing here imports PyTorch: parsing stays fast.
"""
