"""The sandbox clearinghouse: an SFTP server (sftp_server.py) with accounts (accounts.py) and an
adjudicator that answers uploads like a real clearinghouse and its payers. The platform reaches
it only over SFTP, through config/clearinghouses/sandbox.yaml."""
