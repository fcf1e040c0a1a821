"""Pure parsers: raw Slurm output (text or JSON of any data_parser version) -> slurmops.slurm.models."""
