"""The ``spark-etl`` command line: arguments, printing and exit codes; nothing else."""
