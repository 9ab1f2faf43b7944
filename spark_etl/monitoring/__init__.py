"""What a scheduler and a monitoring stack see of a run, beside its exit code: Prometheus
metrics (``prometheus``), OpenLineage events (``lineage``) and the run's identity on every log
line (``context``). Nothing here may fail a load: an unreachable target is one warning."""
