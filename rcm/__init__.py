"""Revenue-cycle management domain: pure Python, no Prefect, no network."""

__version__ = "0.1.0"
