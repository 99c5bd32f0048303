"""The Kubeflow pipeline: wiring (reasoning_pipeline.py) and the command line (cli.py)."""
