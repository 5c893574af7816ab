"""`python -m job_alerts`: the operator command line, the same as the `job-alerts` script."""

from job_alerts.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
