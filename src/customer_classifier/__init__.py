"""Customer Classifier: Customers and Sales tables to a nightly good/bad customer table."""

__version__ = "0.1.0"
