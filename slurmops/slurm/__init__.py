"""Talking to Slurm: sources (CLI, slurmrestd, pyslurm), version-tolerant parsers, typed models."""
