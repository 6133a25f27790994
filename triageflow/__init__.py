"""triageflow: error-triage automation for GlitchTip and Prometheus/Grafana alerting, on Prefect 3."""

__version__ = "0.1.0"
