"""One module per domain; each turns models into Prometheus metric families."""
