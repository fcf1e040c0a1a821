"""What both exporters share: collector running with self-metrics, the background poller and
snapshot cache, and the HTTP server with node_exporter's web config (TLS, basic auth)."""
