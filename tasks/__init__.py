"""Prefect tasks: each wraps one domain call (rcm) or one connector operation (connectors) and
declares its retries (transient faults only), its cache policy (NO_CACHE: every task has side
effects or reads live data) and, for SFTP, the clearinghouse account's concurrency tag."""
