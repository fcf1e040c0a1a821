"""slurmops: observability and operations for Slurm clusters."""
__version__ = "0.1.0"
