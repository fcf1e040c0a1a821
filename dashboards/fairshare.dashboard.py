"""Accounts and fairshare (sshare): shares against usage, the fair-share factor, and what each
account and user holds now."""
from slurmops.grafana import Q, Row, among, bargauge, bottom, build, cluster_var, iq, query_var, table, timeseries, top

# Big sites have thousands of users and hundreds of accounts: every panel shows the top ones.
HEAVY = top('max by (account, user) (slurm_share_effective_usage{@c, account=~"$account"})', 50)

dashboard = build(
    "fairshare", "Slurm / Accounts and fairshare",
    description="Fair-share factor, shares vs usage per account and user, allocation per account.",
    variables=[
        cluster_var(),
        query_var("account", 'label_values(slurm_share_raw_shares{@c, user=""}, account)', "Account",
                  multi=True, include_all=True),
    ],
    rows=[
        Row("Fairshare", [
            table("Shares and usage per account and user (50 heaviest users)", "percentunit",
                  iq(among('max by (account, user) (slurm_share_normalized_shares{@c, account=~"$account"})',
                           HEAVY, "account, user")),
                  iq(among('max by (account, user) (slurm_share_normalized_usage{@c, account=~"$account"})',
                           HEAVY, "account, user")),
                  iq(HEAVY),
                  iq(among('max by (account, user) (slurm_share_fairshare{@c, account=~"$account"})',
                           HEAVY, "account, user")),
                  w=24, rename={"Value #A": "normalized shares", "Value #B": "normalized usage",
                                "Value #C": "effective usage", "Value #D": "fairshare"},
                  overrides=[{"matcher": {"id": "byName", "options": "fairshare"},
                              "properties": [{"id": "unit", "value": "none"},
                                             {"id": "decimals", "value": 3}]}]),
            timeseries("Fair-share factor per user (lowest 20)", "none",
                       Q(bottom('max by (account, user) (slurm_share_fairshare{@c, account=~"$account", user!=""})'),
                         "{{account}}/{{user}}"), w=12, min=0, max=1),
            timeseries("Usage against shares per account (>1: over its share; top 20)", "percentunit",
                       Q(top('max by (account) (slurm_share_effective_usage{@c, account=~"$account", user=""})'
                             ' / max by (account) '
                             '(slurm_share_normalized_shares{@c, account=~"$account", user=""} > 0)'),
                         "{{account}}"), w=12),
            timeseries("Raw usage (decayed CPU-seconds) per account (top 20)", "s",
                       Q(top('max by (account) (slurm_share_raw_usage{@c, account=~"$account", user=""})'),
                         "{{account}}"), w=12),
            bargauge("Raw shares per account (top 20)", "short",
                     Q(top('max by (account) (slurm_share_raw_shares{@c, account=~"$account", user=""})'),
                       "{{account}}", instant=True), w=12),
        ]),
        Row("What accounts and users hold now", [
            timeseries("CPUs allocated per account (top 20)", "short",
                       Q(top('sum by (account) (slurm_account_cpus_allocated{@c, account=~"$account"})'),
                         "{{account}}"), w=12, stack=True, fill=30),
            timeseries("Memory allocated per account (top 20)", "bytes",
                       Q(top('sum by (account) (slurm_account_memory_allocated_bytes{@c, account=~"$account"})'),
                         "{{account}}"), w=12, stack=True, fill=30),
            timeseries("CPUs allocated per user (top 20)", "short",
                       Q(top("sum by (user) (slurm_user_cpus_allocated{@c})"), "{{user}}"), w=12,
                       stack=True, fill=30),
            bargauge("Jobs per user by state (top 20)", "short",
                     Q(top("sum by (user, state) (slurm_user_jobs{@c})"), "{{user}} {{state}}",
                       instant=True), w=12),
        ]),
    ],
)
