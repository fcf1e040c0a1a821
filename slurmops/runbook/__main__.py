"""`python -m slurmops.runbook runbook|runbooks ...`: the same commands as `slurmops runbook ...`,
usable before (and independently of) the root CLI wiring."""
import click

from .cli import runbook, runbooks


@click.group()
def main() -> None:
    """slurmops runbook commands."""


main.add_command(runbook)
main.add_command(runbooks)

if __name__ == "__main__":
    main()
