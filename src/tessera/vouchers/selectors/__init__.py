"""Reads about vouchers, as ready querysets and plain rows, for the CLI, admin, API and pages; one
module for each kind of thing read."""
