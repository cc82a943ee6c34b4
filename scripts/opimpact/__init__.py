"""op-impact: an open data package on Canada's Operation IMPACT, and the tools that check and publish it."""

__version__ = "1.0.0"
