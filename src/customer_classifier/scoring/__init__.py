"""Nightly batch scoring of every active customer into the predictions table."""
