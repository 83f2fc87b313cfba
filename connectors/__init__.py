"""I/O connectors: database, SFTP, archive, clearinghouse profiles. They know nothing of claims."""
