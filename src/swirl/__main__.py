"""`python -m swirl` runs the command line."""

from swirl.cli import app

app()
