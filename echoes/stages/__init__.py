"""The workflow's stages as the glue scripts call them: each reads its inputs, runs the core it needs
(:mod:`echoes.training`, ...), writes its outputs through their contracts and tracks them. The core
knows nothing of files, MLflow or Snakemake; a stage is where they meet.
"""
