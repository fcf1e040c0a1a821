"""`slurmops jobstats`: per-job efficiency reports (after Princeton's jobstats), the summary stored
in the job's AdminComment at job end, bulk reports for a user or account, and the weekly HTML."""
