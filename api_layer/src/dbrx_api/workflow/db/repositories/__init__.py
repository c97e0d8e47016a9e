"""One module per workflow table; every function takes a connection and leaves the transaction to the caller."""
