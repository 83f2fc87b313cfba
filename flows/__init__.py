"""Prefect flows: the revenue cycle per practice and day, composed of tasks/. Each publishes what
an operator needs as artifacts (IDs, codes, counts and amounts; never patient data) and fails
with a clear message when a step fails. flows/serve.py builds the deployments."""
