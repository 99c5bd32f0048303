"""Evaluation: metrics (pass@k, majority vote), plots, report rendering and the summary table."""
