"""Quality gates: a load's figures judged against its entity's thresholds."""
