"""Bright Data job alerts: watch Scraper Studio jobs and alert when they fail, degrade or hang."""

__version__ = "0.1.0"
