"""On-node observability: Slurm job cgroups (v1, v2, SLUID layouts), GPUs per job through NVML, and
the per-node job exporter (`slurmops exporter jobs`, ``slurmops.node.exporter:jobs``)."""
