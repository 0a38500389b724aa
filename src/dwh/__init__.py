"""dwh: the analytical data warehouse for the Sorting Hat delivery platform."""

__version__ = "0.1.0"
