"""Reservations and licenses: what is reserved, when, on how much; license use and exhaustion."""
from slurmops.grafana import Q, Row, bargauge, build, cluster_var, iq, stat, table, timeseries

dashboard = build(
    "reservations", "Slurm / Reservations and licenses",
    description="Reservations (active and upcoming) and license usage.",
    variables=[cluster_var()],
    rows=[
        Row("Reservations", [
            stat("Reservations", "short", Q("count(slurm_reservation_info{@c}) or vector(0)"), w=6),
            stat("Active reservations", "short",
                 Q("sum(slurm_reservation_active{@c}) or vector(0)"), w=6),
            stat("Reserved nodes (active)", "short",
                 Q("sum(slurm_reservation_nodes{@c} * on (reservation, cluster) "
                   "slurm_reservation_active{@c}) or vector(0)"), w=6),
            stat("Reserved CPUs (active)", "short",
                 Q("sum(slurm_reservation_cpus{@c} * on (reservation, cluster) "
                   "slurm_reservation_active{@c}) or vector(0)"), w=6),
            table("Reservations", "dateTimeAsIso",
                  iq("max by (reservation, flags, partition) (slurm_reservation_info{@c})"),
                  iq("max by (reservation) (slurm_reservation_start_timestamp_seconds{@c}) * 1000"),
                  iq("max by (reservation) (slurm_reservation_end_timestamp_seconds{@c}) * 1000"),
                  iq("max by (reservation) (slurm_reservation_nodes{@c})"),
                  iq("max by (reservation) (slurm_reservation_cpus{@c})"),
                  iq("max by (reservation) (slurm_reservation_active{@c})"),
                  w=24, hide=("Time", "__name__", "job", "instance", "cluster", "Value #A"),
                  rename={"Value #B": "start", "Value #C": "end", "Value #D": "nodes",
                          "Value #E": "CPUs", "Value #F": "active"},
                  overrides=[{"matcher": {"id": "byRegexp", "options": "nodes|CPUs|active"},
                              "properties": [{"id": "unit", "value": "short"}]}]),
            timeseries("Reserved nodes per reservation", "short",
                       Q("max by (reservation) (slurm_reservation_nodes{@c})", "{{reservation}}"),
                       w=24),
        ]),
        Row("Licenses", [
            bargauge("License use", "percentunit",
                     Q('sum by (license) (slurm_licenses{@c, status="used"}) / '
                       'sum by (license) (slurm_licenses{@c, status="total"})', "{{license}}",
                       instant=True), w=12, max=1,
                     steps=[("green", None), ("orange", 0.8), ("red", 1)]),
            timeseries("Licenses by status", "short",
                       Q('sum by (license, status) (slurm_licenses{@c, status!="total"})',
                         "{{license}} {{status}}"), w=12),
            timeseries("Licenses free", "short",
                       Q('sum by (license) (slurm_licenses{@c, status="free"})', "{{license}}"),
                       w=12),
            timeseries("Pending on licenses", "short",
                       Q('sum(slurm_jobs_pending{@c, reason="Licenses"}) or vector(0)',
                         "jobs pending for licenses"), w=12),
        ]),
    ],
)
