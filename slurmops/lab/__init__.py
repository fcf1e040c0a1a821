"""The lab: a disposable, real Slurm platform on one Debian 12 machine, on loopback."""
